"""Ingest: from the agency to the raw landing zone.

``extract`` (one extractor per delivery kind), ``fetch`` (the REST extract's bounded GET),
``landing/`` (the landing zone, sidecars and the parsers to ``records.parquet``).
"""
