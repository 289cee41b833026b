"""Delivery kind ``sql_extract``: rows of one table in the agency's own database, windowed by ``updated_column``.

Extractor: the day's rows, fetched ``chunk_rows`` at a time (a server-side cursor where the driver has
one) and written to the raw zone as JSON lines (``extract.jsonl``) as they come: landing copies and
hashes each chunk, so no more than one chunk is held. Parser: ``jsonl`` (landed in pieces).
Lineage: the agency's table. Policy: extract at once, within an hour, with two retries (a database flaps less than an API).
"""

from __future__ import annotations

import datetime as dt
import json

from safety_hub.config.connections import ConnectionInfo, get_connection
from safety_hub.config.registry import Feed, SqlExtractDelivery
from safety_hub.domain.errors import FeedError
from safety_hub.ingest.datasets import DatasetRef, sql_table_dataset
from safety_hub.ingest.delivery import Extract, RawFile, day_window
from safety_hub.ingest.kinds.base import DeliveryKind, register


def extract_sql(feed: Feed, delivery: SqlExtractDelivery, day: dt.date) -> Extract:
    """The day's rows as JSON lines, streamed: the query runs when landing reads the file's blocks
    (one block of ``chunk_rows`` lines at a time), and the row count is known once it is written."""
    import sqlalchemy as sa

    conn = get_connection(delivery.conn_id)
    url = conn.extra.get("url") or conn.host
    if not url:
        raise FeedError(feed.feed_id, delivery.conn_id, "connection has no SQLAlchemy URL (extra.url)")
    engine = sa.create_engine(url)
    shown = engine.url.render_as_string(hide_password=True)
    since, until = day_window(day)
    col = sa.column(delivery.updated_column)
    # Timestamps are ISO text in the agency DB; compare on the Beijing calendar day.
    query = sa.select(sa.text("*")).select_from(sa.table(delivery.table)).where(
        sa.func.substr(col, 1, 10) == day.isoformat()
    )
    fetched = {"rows": 0}

    def blocks():
        # One encoder for every row (json.dumps with options builds one per call); the text is what json.dumps gave.
        encode = json.JSONEncoder(ensure_ascii=False, default=str).encode
        try:
            with engine.connect() as db:
                result = db.execution_options(yield_per=delivery.chunk_rows).execute(query)
                keys = list(result.keys())
                for chunk in result.partitions():
                    yield "".join([encode(dict(zip(keys, row))) + "\n" for row in chunk]).encode("utf-8")
                    fetched["rows"] += len(chunk)
        except sa.exc.SQLAlchemyError as exc:
            raise FeedError(feed.feed_id, f"{shown}/{delivery.table}", f"query failed: {exc.orig or exc}") from None
        finally:
            engine.dispose()

    return Extract(feed.feed_id, day, f"{shown}#{delivery.table}[{since:%Y-%m-%d}]",
                   [RawFile("extract.jsonl", blocks=blocks())], expected_rows=lambda: fetched["rows"])


def source(feed: Feed, conn: ConnectionInfo, day: dt.date, **facets) -> DatasetRef:
    """The agency's table the extract reads (lineage)."""
    url = conn.extra.get("url") or conn.host
    if not url:
        raise ValueError(f"connection {feed.delivery.conn_id} has no SQLAlchemy URL")
    return sql_table_dataset(url, feed.delivery.table, **facets)


KIND = register(DeliveryKind(
    "sql_extract", extract=extract_sql, parser=lambda feed: "jsonl", source=source,
    retries=2, extract_timeout=dt.timedelta(hours=1),
))
