"""Web helpers shared by the blueprints: templating, htmx answers, access and roles, compression, health.

Nothing here is a rule of the business: filters and globals every template may use (`templating`, `labels`),
partial or page and a form's answer (`htmx`), which staff role may open what (`roles`) and see which site's
rows (`access`), gzip for the tenant page's weight (`compress`) and the load balancers' `/healthz` (`health`).
"""
