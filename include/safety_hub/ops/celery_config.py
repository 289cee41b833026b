"""Celery settings of the platform's workers: Airflow's defaults plus a warm start.

Set by ``AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS=safety_hub.ops.celery_config.CELERY_CONFIG`` in
docker-compose.yml and the native stack (``stack.py``). A Celery worker imports the modules in
``imports`` once, in its main process, before it forks its pool; Airflow's supervisor then forks
each task's process from a pool process. So every task starts with pandas, pyarrow, SQLAlchemy
and Great Expectations already imported, instead of paying their import (GX alone takes seconds)
in each of the day's dozens of short tasks. DAG files stay light: this runs in workers only.
"""

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG

WARM_MODULES = ("safety_hub.ops.warmup",)

CELERY_CONFIG = {**DEFAULT_CELERY_CONFIG, "imports": WARM_MODULES}
