"""Every RQ job function, by the kind of work: each is a thin, idempotent wrapper over a domain verb.

`base` is the job decorator (app context, one transaction, committed on success). The names that domain code
enqueues are declared in `portal.queue.names`; a contract test checks that each resolves here.
"""
