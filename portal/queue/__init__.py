"""Jobs plumbing: the transactional outbox and its hand-over to RQ.

Domain code asks for work with `outbox.enqueue` inside its transaction, naming a job from `names`; after the
commit `dispatch` hands the row to RQ (or, in the demo, to a thread). The job functions themselves live in
`worker.jobs.housekeeping`; nothing here imports them except by name.
"""
