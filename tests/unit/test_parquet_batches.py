"""Reading a Parquet file batch by batch holds what one batch needs, however many row groups the file has.

One ``pyarrow.parquet.ParquetFile.iter_batches`` over a whole file of text columns keeps
Arrow buffers allocated as it advances over the row groups (+32 MB every few groups here,
200 MB over a 10M-row ``records.parquet``), freed only when the reader goes; the pipeline
reads its files through ``ingest.parquetfiles.iter_batches``, a reader per row group.
"""

from __future__ import annotations

import pyarrow as pa
import pytest
import pyarrow.compute as pc
import pyarrow.parquet as pq

from safety_hub.ingest.parquetfiles import iter_batches
from safety_hub.quality.stream import record_batches

GROUP_ROWS, GROUPS, COLUMNS = 110_000, 24, 5


@pytest.fixture(scope="module")
def text_file(tmp_path_factory):
    """A landed-records-like file: text columns, row groups of ~110,000 rows (as landing writes them)."""
    path = tmp_path_factory.mktemp("parquet") / "records.parquet"
    text = pa.large_string()
    numbers = pc.cast(pa.array(range(GROUP_ROWS * GROUPS), pa.int64()), text)
    ids = pc.binary_join_element_wise(pa.scalar("HZ", text), numbers, pa.scalar("", text))
    pq.write_table(pa.table({f"c{i}": ids for i in range(COLUMNS)}), path, row_group_size=GROUP_ROWS)
    return path


def _held_while_reading(batches) -> tuple[int, int, int]:
    """(rows, Arrow bytes held after the first batch, the most held after any later one), each batch dropped at once."""
    base = pa.total_allocated_bytes()
    rows, first, most = 0, None, 0
    for batch in batches:
        rows += batch.num_rows if hasattr(batch, "num_rows") else len(batch)
        del batch
        held = pa.total_allocated_bytes() - base
        if first is None:
            first = held
        most = max(most, held)
    return rows, first, most


def test_batches_hold_one_row_group_at_a_time(text_file):
    path = text_file
    seen = [b.column(0) for b in iter_batches(path, 65_536, columns=["c0"])]
    assert pa.chunked_array(seen).equals(pq.read_table(path, columns=["c0"]).column(0)), "every row, in order"
    assert all(len(b) <= 65_536 for b in seen)
    del seen

    rows, first, most = _held_while_reading(iter_batches(path, 65_536))
    assert rows == GROUP_ROWS * GROUPS
    assert most - first < 16 * 2**20, f"Arrow memory grew by {(most - first) / 2**20:.0f} MB while reading"


def test_record_batches_hold_one_batch_at_a_time(text_file):
    """The validate stage's reader (frames of ``batch_rows``), over the same file."""
    path = text_file
    rows, first, most = _held_while_reading(record_batches(path, 200_000))
    assert rows == GROUP_ROWS * GROUPS
    assert most - first < 16 * 2**20, f"Arrow memory grew by {(most - first) / 2**20:.0f} MB while reading"
