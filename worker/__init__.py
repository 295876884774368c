"""The Celery edge: a thin task around :func:`jobs.execute.run_job`."""
