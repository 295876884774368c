"""Job lifecycle and persistence shared by the API and the workers.

The database is the record of every job: its status, attempts, progress events, the
result and the outbox that feeds the broker. Celery only ever carries job ids.
"""
