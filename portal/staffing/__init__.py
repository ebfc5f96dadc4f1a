"""Staff users and their API tokens: who may work in the staff area and the API, with what role and sites.

`users` holds the verbs on staff users (create, role and site scope, (de)activation, passwords) and `tokens`
the bearer tokens that act as them. Both the command line and the staff pages call these verbs: each checks
what it is given, records itself in the audit log and only flushes; the caller commits. Every change to a
password, role, site scope or activity ends the user's sessions (portal.models.user bumps their version).
"""
