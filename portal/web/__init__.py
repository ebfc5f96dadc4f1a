"""Web helpers shared by the blueprints: templating, htmx answers, access, compression, health.

Nothing here is a rule of the business: filters and globals for the templates (`templating`, `labels`), who
may see what (`access`), gzip for the tenant page's weight (`compress`) and the load balancers' `/healthz`
(`health`).
"""
