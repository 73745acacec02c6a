"""Flows: DAGs of steps stored in the database and run on Celery."""
