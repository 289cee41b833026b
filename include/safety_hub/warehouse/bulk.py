"""Bulk insert on each engine's fast path (never row by row, never pandas to_sql).

DuckDB scans an Arrow table registered on the same connection; PostgreSQL
receives ``COPY ... FROM STDIN`` fed with CSV written by Arrow, one chunk of
rows at a time (memory stays bounded by the chunk, not the frame). Both run
inside the caller's transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import sqlalchemy as sa

from safety_hub.ingest.parquetfiles import iter_batches

COPY_CHUNK_ROWS = 50_000  # rows converted to Arrow and written as CSV at a time for COPY
_COPY_READ_SIZE = 1 << 20  # bytes psycopg2 asks the stream for per COPY message
_CSV_OPTIONS = pacsv.WriteOptions(include_header=False, quoting_style="needed")


def bulk_insert(conn: sa.Connection, table: sa.Table, data: pd.DataFrame | pa.Table) -> int:
    """Insert ``data``'s columns that ``table`` has (a pandas frame or an Arrow table); return the row count."""
    if len(data) == 0:
        return 0
    names = set(data.column_names if isinstance(data, pa.Table) else data.columns)
    cols = [c.name for c in table.columns if c.name in names]
    data = data.select(cols) if isinstance(data, pa.Table) else data[cols]
    name = conn.dialect.name
    if name == "duckdb":
        raw = conn.connection.driver_connection
        view = f"_bulk_{uuid.uuid4().hex[:8]}"
        raw.register(view, data if isinstance(data, pa.Table) else pa.Table.from_pandas(data, preserve_index=False))
        try:
            col_list = ", ".join(f'"{c}"' for c in cols)
            raw.execute(f'INSERT INTO "{table.name}" ({col_list}) SELECT {col_list} FROM {view}')
        finally:
            raw.unregister(view)
    elif name == "postgresql":
        # CSV as Arrow writes it: every string value quoted (so "" is an empty string and a
        # quoted "\N" is text), NULL an unquoted empty field (COPY's CSV default), timestamps
        # ISO with the offset ("Z" for UTC), booleans true/false. ENCODING: Arrow writes UTF-8,
        # whatever the connection's client_encoding.
        col_list = ", ".join(f'"{c}"' for c in cols)
        types = [table.columns[c].type for c in cols]
        stream = _CopyStream(_prefetched(_csv_chunks(data, types)))
        with conn.connection.driver_connection.cursor() as cur:
            try:
                cur.copy_expert(f'COPY "{table.name}" ({col_list}) FROM STDIN WITH (FORMAT csv, ENCODING \'UTF8\')', stream, size=_COPY_READ_SIZE)
            except Exception as exc:
                if stream.error is not None:  # psycopg2 reports it as "error in .read() call": raise the error itself
                    raise stream.error from exc
                raise
            finally:
                stream.close()  # a COPY that failed early leaves chunks unread: stop the worker
    else:  # other engines: executemany in one statement
        frame = data.to_pandas() if isinstance(data, pa.Table) else data
        records = frame.astype(object).where(frame.notna(), None).to_dict("records")
        conn.execute(table.insert(), records)
    return len(data)


def insert_parquet(conn: sa.Connection, table: sa.Table, path: Path, batch_rows: int = COPY_CHUNK_ROWS) -> int:
    """Insert a parquet file's columns that ``table`` has, never holding the file in memory; return the row count.

    DuckDB reads the file itself (``INSERT ... SELECT ... FROM read_parquet``: nothing passes
    through Python); other engines receive it ``batch_rows`` rows at a time through ``bulk_insert``.
    """
    import pyarrow.parquet as pq

    source = pq.ParquetFile(path)
    if source.metadata.num_rows == 0:
        return 0
    present = set(source.schema_arrow.names)
    cols = [c for c in table.columns if c.name in present]
    if conn.dialect.name == "duckdb":
        col_list = ", ".join(f'"{c.name}"' for c in cols)  # converted to the columns' types as bulk_insert's scan is
        literal = str(path).replace("'", "''")
        return conn.execute(sa.text(f'INSERT INTO "{table.name}" ({col_list}) SELECT {col_list} FROM read_parquet(\'{literal}\')')).rowcount
    return sum(bulk_insert(conn, table, pa.Table.from_batches([batch]))
               for batch in iter_batches(path, batch_rows, [c.name for c in cols]))


def _csv_chunks(data: pd.DataFrame | pa.Table, types: list[sa.types.TypeEngine], rows: int | None = None) -> Iterator[pa.Buffer]:
    """The rows as headerless CSV, ``rows`` (default COPY_CHUNK_ROWS) rows per buffer, converted lazily."""
    rows = rows or COPY_CHUNK_ROWS
    arrow = isinstance(data, pa.Table)
    names = [str(c) for c in (data.column_names if arrow else data.columns)]
    for start in range(0, len(data), rows):
        if arrow:
            part = data.slice(start, rows)
            arrays = [_copy_ready(part.column(i), types[i]) for i in range(len(names))]
        else:
            part = data.iloc[start:start + rows]
            arrays = [_arrow_column(part.iloc[:, i], types[i]) for i in range(len(names))]
        sink = pa.BufferOutputStream()
        pacsv.write_csv(pa.Table.from_arrays(arrays, names=names), sink, _CSV_OPTIONS)
        yield sink.getvalue()


def _arrow_column(values: pd.Series, target: sa.types.TypeEngine) -> pa.Array | pa.ChunkedArray:
    """One pandas column as an Arrow array whose CSV text PostgreSQL reads as ``target``."""
    try:
        arr = pa.array(values, from_pandas=True)  # NaN/None/NaT/pd.NA -> null
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        arr = None  # e.g. an object column mixing ints and strings
    if arr is None:
        return _as_text(values)
    return _copy_ready(arr, target, values)


def _as_text(values: pd.Series) -> pa.Array:
    """What pandas to_csv wrote for values Arrow cannot write: str() of each value."""
    return pa.array(values.map(str, na_action="ignore").astype(object).where(values.notna(), None), type=pa.large_string())


def _copy_ready(arr: pa.Array | pa.ChunkedArray, target: sa.types.TypeEngine, values: pd.Series | None = None) -> pa.Array | pa.ChunkedArray:
    """An Arrow column whose CSV text PostgreSQL reads as ``target``."""
    if pa.types.is_dictionary(arr.type):
        arr = arr.cast(arr.type.value_type)
    if pa.types.is_nested(arr.type) or pa.types.is_binary(arr.type) or pa.types.is_large_binary(arr.type):
        return _as_text(values if values is not None else arr.to_pandas())
    if pa.types.is_timestamp(arr.type):
        if isinstance(target, sa.Date):
            return pc.cast(arr, pa.date32())  # the (local, for tz-aware) calendar date, as PostgreSQL read it before
        if arr.type.unit == "ns":  # PostgreSQL keeps microseconds and would round; truncate (floor) like %f did
            return pc.cast(pc.floor_temporal(arr, unit="microsecond"), pa.timestamp("us", arr.type.tz))
    return arr


def _prefetched(chunks: Iterator[pa.Buffer]) -> Iterator[pa.Buffer]:
    """``chunks``, the next one made in a worker thread while COPY sends and parses this one.

    At most two chunks exist at a time; an error making one is raised here, in ``read``,
    which makes psycopg2 abort the COPY. Closing the generator waits for the pending chunk.
    """
    with ThreadPoolExecutor(1, thread_name_prefix="bulk-csv") as pool:
        pending = pool.submit(next, chunks, None)
        while (buf := pending.result()) is not None:
            pending = pool.submit(next, chunks, None)
            yield buf


class _CopyStream:
    """A read()-only file over CSV buffers produced on demand (what ``copy_expert`` reads)."""

    def __init__(self, chunks: Iterator[pa.Buffer]):
        self._chunks = chunks
        self._view = memoryview(b"")
        self._pos = 0
        self.error: BaseException | None = None

    def close(self) -> None:
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()
        self._view = memoryview(b"")

    def read(self, size: int = -1) -> bytes:
        while self._pos >= len(self._view):
            try:
                buf = next(self._chunks, None)
            except BaseException as exc:
                self.error = exc
                raise
            if buf is None:
                return b""
            self._view, self._pos = memoryview(buf), 0
        end = len(self._view) if size is None or size < 0 else self._pos + size
        out = bytes(self._view[self._pos:end])
        self._pos += len(out)
        return out
