"""Reading a Parquet file batch by batch holds what one batch needs, however many row groups the file has.

One ``pyarrow.parquet.ParquetFile.iter_batches`` over a whole file of text columns keeps
Arrow buffers allocated as it advances over the row groups (+32 MB every few groups here,
200 MB over a 10M-row ``records.parquet``), freed only when the reader goes; the pipeline
reads its files through ``ingest.parquetfiles.iter_batches``, a reader per row group.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from safety_hub.ingest.parquetfiles import iter_batches
from safety_hub.quality.stream import record_batches

GROUP_ROWS, GROUPS, COLUMNS = 110_000, 24, 5
GROWTH_MB = 16  # a whole-file reader grows by 48-50 MB over this file; a reader per row group by 0-6


def write_text_file(path):
    """A landed-records-like file: text columns, row groups of ~110,000 rows (as landing writes them)."""
    text = pa.large_string()
    numbers = pc.cast(pa.array(range(GROUP_ROWS * GROUPS), pa.int64()), text)
    ids = pc.binary_join_element_wise(pa.scalar("HZ", text), numbers, pa.scalar("", text))
    pq.write_table(pa.table({f"c{i}": ids for i in range(COLUMNS)}), path, row_group_size=GROUP_ROWS)
    return path


@pytest.fixture(scope="module")
def text_file(tmp_path_factory):
    return write_text_file(tmp_path_factory.mktemp("parquet") / "records.parquet")


def growth_while_reading(batches) -> tuple[int, float]:
    """(rows, MB): the least Arrow memory held after a batch of the last quarter over the least after one of the
    first quarter, each batch dropped at once (a reader decoding ahead holds a row group now and then: what
    stays held is what grows)."""
    base = pa.total_allocated_bytes()
    rows, held = 0, []
    for batch in batches:
        rows += batch.num_rows if hasattr(batch, "num_rows") else len(batch)
        del batch
        held.append(pa.total_allocated_bytes() - base)
    quarter = max(1, len(held) // 4)
    return rows, (min(held[-quarter:]) - min(held[:quarter])) / 2**20


def test_batches_hold_one_row_group_at_a_time(text_file):
    seen = [b.column(0) for b in iter_batches(text_file, 65_536, columns=["c0"])]
    assert pa.chunked_array(seen).equals(pq.read_table(text_file, columns=["c0"]).column(0)), "every row, in order"
    assert all(len(b) <= 65_536 for b in seen)
    del seen

    rows, grown = growth_while_reading(iter_batches(text_file, 65_536))
    assert rows == GROUP_ROWS * GROUPS
    assert grown < GROWTH_MB, f"Arrow memory grew by {grown:.0f} MB while reading"


def test_record_batches_hold_one_batch_at_a_time(text_file):
    """The validate stage's reader (frames of ``batch_rows`` carried over row groups as slices), over the same file."""
    rows, grown = growth_while_reading(record_batches(text_file, 200_000))
    assert rows == GROUP_ROWS * GROUPS
    assert grown < GROWTH_MB, f"Arrow memory grew by {grown:.0f} MB while reading"
