"""Operations: what runs the stages under Airflow and watches them.

``dagkit`` (DAG helpers, failure callbacks), ``alerts``, ``health`` and ``health_page`` (feed
health), ``lineage`` (OpenLineage), ``celery_config`` and ``warmup`` (workers),
``deploy_secrets``. The layers below never import it.
"""
