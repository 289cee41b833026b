"""Delivery kind ``sql_extract``: rows of one table in the agency's own database, windowed by ``updated_column``.

Extractor: the day's rows, read in chunks, as JSON lines (``extract.jsonl``). Parser: ``jsonl``.
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
    import sqlalchemy as sa

    conn = get_connection(delivery.conn_id)
    url = conn.extra.get("url") or conn.host
    if not url:
        raise FeedError(feed.feed_id, delivery.conn_id, "connection has no SQLAlchemy URL (extra.url)")
    engine = sa.create_engine(url)
    since, until = day_window(day)
    col = sa.column(delivery.updated_column)
    # Timestamps are ISO text in the agency DB; compare on the Beijing calendar day.
    query = sa.select(sa.text("*")).select_from(sa.table(delivery.table)).where(
        sa.func.substr(col, 1, 10) == day.isoformat()
    )
    lines: list[bytes] = []
    try:
        with engine.connect() as db:
            rows = db.execution_options(stream_results=True).execute(query).mappings()
            while chunk := rows.fetchmany(delivery.chunk_rows):
                lines.extend(json.dumps(dict(r), ensure_ascii=False, default=str).encode("utf-8") for r in chunk)
    except sa.exc.SQLAlchemyError as exc:
        raise FeedError(feed.feed_id, f"{engine.url.render_as_string(hide_password=True)}/{delivery.table}", f"query failed: {exc.orig or exc}") from None
    finally:
        engine.dispose()
    body = b"\n".join(lines) + (b"\n" if lines else b"")
    return Extract(feed.feed_id, day, f"{engine.url.render_as_string(hide_password=True)}#{delivery.table}[{since:%Y-%m-%d}]",
                   [RawFile("extract.jsonl", body)], expected_rows=len(lines))


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
