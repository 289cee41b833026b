"""Reading the pipeline's own Parquet files (landed records, staged rows and quality records) in bounded memory.

Every stage that streams a Parquet file reads it through ``iter_batches`` here, never
through one ``pyarrow.parquet.ParquetFile.iter_batches`` over the whole file: that
reader (pyarrow 26, as Arrow's dataset scanner in apache/arrow#39808) keeps Arrow
buffers allocated as it advances over row groups, about 32 MB more per million text
rows, until it is dropped; at 10M rows that was 200 MB held by nothing the caller
kept. A reader per row group frees what it read when it is done.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path


def iter_batches(path: Path | str, batch_size: int, columns: list[str] | None = None) -> Iterator:
    """The file's rows as ``pyarrow.RecordBatch`` objects of at most ``batch_size`` rows, one reader per row group.

    Batches do not span row groups (a row group's last batch may be shorter). An empty
    file gives no batch.
    """
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    for group in range(pf.metadata.num_row_groups):
        yield from pf.iter_batches(batch_size=batch_size, row_groups=[group], columns=columns)
