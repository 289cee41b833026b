"""Imported once by each Celery worker before it forks (``celery_config.WARM_MODULES``): the
heavy libraries the tasks use, so forked task processes inherit them. Nothing runs here but
imports; GX's data context is still made per task process (``quality.engine.Engine``)."""

import duckdb  # noqa: F401
import pandas  # noqa: F401
import pyarrow.parquet  # noqa: F401
import sqlalchemy  # noqa: F401

import safety_hub.pipeline  # noqa: F401
import safety_hub.quality.expectations  # noqa: F401  (imports Great Expectations, registers the custom expectations)
import safety_hub.quality.validate  # noqa: F401
