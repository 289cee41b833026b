"""Bulk insert on each engine's fast path (never row by row, never pandas to_sql).

DuckDB scans an Arrow table registered on the same connection; PostgreSQL
receives ``COPY ... FROM STDIN``. Both run inside the caller's transaction.
"""

from __future__ import annotations

import io
import uuid

import pandas as pd
import pyarrow as pa
import sqlalchemy as sa


def bulk_insert(conn: sa.Connection, table: sa.Table, frame: pd.DataFrame) -> int:
    if frame.empty:
        return 0
    cols = [c.name for c in table.columns if c.name in frame.columns]
    frame = frame[cols]
    name = conn.dialect.name
    if name == "duckdb":
        raw = conn.connection.driver_connection
        view = f"_bulk_{uuid.uuid4().hex[:8]}"
        raw.register(view, pa.Table.from_pandas(frame, preserve_index=False))
        try:
            col_list = ", ".join(f'"{c}"' for c in cols)
            raw.execute(f'INSERT INTO "{table.name}" ({col_list}) SELECT {col_list} FROM {view}')
        finally:
            raw.unregister(view)
    elif name == "postgresql":
        buf = io.StringIO()
        frame.to_csv(buf, index=False, header=False, na_rep="\\N", date_format="%Y-%m-%dT%H:%M:%S.%f%z")
        buf.seek(0)
        col_list = ", ".join(f'"{c}"' for c in cols)
        with conn.connection.driver_connection.cursor() as cur:
            cur.copy_expert(f'COPY "{table.name}" ({col_list}) FROM STDIN WITH (FORMAT csv, NULL \'\\N\')', buf)
    else:  # other engines: executemany in one statement
        records = frame.astype(object).where(frame.notna(), None).to_dict("records")
        conn.execute(table.insert(), records)
    return len(frame)
