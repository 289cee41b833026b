"""Imported once by each Celery worker before it forks (``celery_config.WARM_MODULES``): the
heavy libraries and every stage's modules, so forked task processes inherit them.
``safety_hub.pipeline`` imports each stage's modules inside the stage function (a fresh
process pays only for its own stage); a worker imports them all here, once. Nothing runs here
but imports; GX's data context is still made per task process (``quality.engine.Engine``)."""

import duckdb  # noqa: F401
import duckdb_engine  # noqa: F401  (SQLAlchemy's DuckDB dialect, loaded at the first create_engine otherwise)
import pandas  # noqa: F401
import pyarrow.parquet  # noqa: F401
import sqlalchemy  # noqa: F401

import safety_hub.pipeline  # noqa: F401
import safety_hub.ingest.landing  # noqa: F401  (land)
import safety_hub.quality.docs  # noqa: F401  (validate: the Data Docs store)
import safety_hub.quality.expectations  # noqa: F401  (imports Great Expectations, registers the custom expectations)
import safety_hub.quality.stream  # noqa: F401  (validate)
import safety_hub.quality.validate  # noqa: F401
import safety_hub.warehouse.build  # noqa: F401  (the warehouse build)
import safety_hub.warehouse.engine  # noqa: F401  (load)
import safety_hub.warehouse.load  # noqa: F401
