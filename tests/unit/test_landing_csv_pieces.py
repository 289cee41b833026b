"""landing._read_csv_arrow reads a large CSV in pieces, one per core: the same frame as one read.

A piece must start and end at a row boundary; a cut inside a quoted value (a value
holding a newline) is detected by the sentinel row and the file is read whole.
"""

from __future__ import annotations

import io
import random

import pandas as pd
import pytest

from safety_hub import landing


def _random_csv(rng: random.Random) -> bytes:
    ncol = rng.randint(2, 4)
    alphabet = rng.choice(["ab ,x天", 'ab,\n"x天', 'ab,\n\r" x天'])

    def value() -> str:
        if rng.random() < 0.1:
            return ""
        s = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6)))
        if rng.random() < 0.5 or any(c in s for c in ',\n\r"') or s != s.strip(" "):
            return '"' + s.replace('"', '""') + '"'
        return s

    lines = [",".join(f"c{j}" for j in range(ncol))]
    for _ in range(rng.randint(1, 120)):
        lines.append("" if rng.random() < 0.03 else ",".join(value() for _ in range(ncol)))
    nl = rng.choice(["\n", "\r\n"])
    text = nl.join(lines) + (nl if rng.random() < 0.8 else "")
    if rng.random() < 0.05:
        text = text[: rng.randint(1, len(text))]  # cut anywhere, maybe inside a quoted value
    data = text.encode("utf-8")
    return (b"\xef\xbb\xbf" + data) if rng.random() < 0.1 else data


def _whole(monkeypatch, data: bytes):
    monkeypatch.setattr(landing, "_CSV_PIECE_BYTES", 1 << 40)
    return landing._read_csv_arrow(data)


def _in_pieces(monkeypatch, data: bytes, size: int, cores: int):
    monkeypatch.setattr(landing, "_CSV_PIECE_BYTES", size)
    monkeypatch.setattr(landing.settings, "cores", lambda: cores)
    return landing._read_csv_arrow(data)


def _same(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert list(a.dtypes) == list(b.dtypes)
    return True


@pytest.mark.parametrize("seed", range(8))
def test_pieces_read_what_one_read_reads(monkeypatch, seed):
    rng = random.Random(seed)
    used = {"pieces": 0, "whole": 0}
    real = landing._read_csv_pieces

    def spy(*args, **kwargs):
        table = real(*args, **kwargs)
        used["whole" if table is None else "pieces"] += 1
        return table

    monkeypatch.setattr(landing, "_read_csv_pieces", spy)
    for _ in range(150):
        data = _random_csv(rng)
        want = _whole(monkeypatch, data)
        cores = rng.randint(2, 5)
        got = _in_pieces(monkeypatch, data, size=max(1, len(data) // rng.randint(cores, 3 * cores)), cores=cores)
        assert _same(got, want), data
    assert used["pieces"] > 20  # the cuts often fall at row boundaries ...
    assert used["whole"] > 20   # ... and some inside quoted values (or the file is unreadable)


def test_pieces_match_pandas_with_quoted_newlines(monkeypatch):
    rows = [f'"YH{i:06d}","line one\nline two {i % 7}",{i % 3 or ""},"天津{i}"' for i in range(3000)]
    data = ("yhbh,yhms,n,dwmc\n" + "\n".join(rows) + "\n").encode()
    got = _in_pieces(monkeypatch, data, size=len(data) // 4, cores=4)
    want = pd.read_csv(io.StringIO(data.decode()), dtype=str, keep_default_na=False, na_values=[""])
    pd.testing.assert_frame_equal(got, want, check_exact=True)


def test_pieces_of_a_plain_file(monkeypatch):
    rows = [f'"YH{i:06d}",{i},"天津{i % 11}",' for i in range(5000)]
    data = ("yhbh,n,dwmc,empty\n" + "\n".join(rows) + "\n").encode()
    calls = []
    real = landing._read_csv_pieces
    monkeypatch.setattr(landing, "_read_csv_pieces", lambda *a, **k: calls.append(1) or real(*a, **k))
    got = _in_pieces(monkeypatch, data, size=len(data) // 3, cores=3)
    assert calls
    want = pd.read_csv(io.StringIO(data.decode()), dtype=str, keep_default_na=False, na_values=[""])
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert got["empty"].isna().all() and len(got) == 5000


def test_blank_to_na_matches_replace():
    frame = pd.DataFrame({"a": ["x", "", None], "b": ["y", "z", None]}, dtype="string")
    pd.testing.assert_frame_equal(landing._blank_to_na(frame), frame.replace({"": pd.NA}))
    clean = pd.DataFrame({"a": ["x", None], "b": ["y", "z"]}, dtype="string")
    pd.testing.assert_frame_equal(landing._blank_to_na(clean), clean.replace({"": pd.NA}))
    python = pd.DataFrame({"a": ["x", ""]}, dtype=pd.StringDtype("python"))
    pd.testing.assert_frame_equal(landing._blank_to_na(python), python.replace({"": pd.NA}))
