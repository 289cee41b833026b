"""Stages 4-5, load and model: the warehouse (DuckDB by default, PostgreSQL in production).

``schema``/``engine`` (model, schema evolution), ``bulk`` and ``load`` (staging, dedupe, merge,
snapshot deletions), ``lifecycle`` (hazard versions), ``build`` (dimensions and marts), ``risk``
(the risk marts), ``crosscheck``, ``checksum``, ``quarantine``, ``access``/``roles`` (grants and
logins), ``docs`` (the data dictionary), ``sqltext`` and ``sql/`` (the statements).
"""
