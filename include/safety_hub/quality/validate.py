"""Run a feed's suite over one batch and split it into valid and quarantined rows.

GX is driven only through ``quality.engine`` (the seam); this module reads its results
into decisions (``BatchCheck``) and quarantine rows.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import json
import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from safety_hub.quality.engine import Engine, suite_result  # noqa: F401  (suite_result: still importable from here)
from safety_hub.quality.normalise import UNPARSED, TypedColumns, normalise  # noqa: F401  (normalise: still importable from here)
from safety_hub.config.registry import Feed

log = logging.getLogger(__name__)


@dataclass
class BatchCheck:
    """The outcome of validating one batch."""

    feed_id: str
    rows: int
    typed: pd.DataFrame  # normalised rows, same index as the raw records
    failures: dict[int, list[str]]  # row index -> error rules broken (quarantined)
    flags: dict[int, list[str]] = field(default_factory=dict)  # row index -> warning rules broken (loaded, flagged)
    rule_counts: dict[str, int] = field(default_factory=dict)
    rule_results: list[dict] = field(default_factory=list)  # one per expectation
    suite: object = None  # the GX suite and result, for Data Docs
    gx_result: object = None
    # Rows the landing stage refused as rows (row.shape...): counted here as quarantined records.
    landing_rejects: pd.DataFrame | None = None

    def add_landing_rejects(self, rejects: pd.DataFrame) -> "BatchCheck":
        """Count the rows refused at landing (``landing.read_records``) as records of this batch, quarantined."""
        if len(rejects):
            self.landing_rejects = rejects
            self.rows += len(rejects)
            for rule, n in rejects["rule"].value_counts().items():
                self.rule_counts[rule] = self.rule_counts.get(rule, 0) + int(n)
        return self

    @property
    def quarantined(self) -> int:
        return len(self.failures) + (0 if self.landing_rejects is None else len(self.landing_rejects))

    @property
    def valid(self) -> int:
        return self.rows - self.quarantined

    @property
    def invalid_share(self) -> float:
        return self.quarantined / self.rows if self.rows else 0.0

    def valid_rows(self) -> pd.DataFrame:
        keep = ~self.typed.index.isin(list(self.failures))
        return self.typed.loc[keep, [c for c in self.typed.columns if not c.startswith(UNPARSED)]]


def check_batch(feed: Feed, records: pd.DataFrame, business_date: dt.date, *, engine: Engine | None = None) -> BatchCheck:
    """Normalise ``records`` (agency columns, text) and validate them with the feed's GX suite.

    The columns are typed in worker threads while ``engine`` (``quality.engine``; one is
    made when none is given, options from the environment) validates the groups of
    expectations whose columns are ready. The decisions are GX's results read here:
    error rules quarantine a row, warning rules flag it.
    """
    with _gc_paused(), TypedColumns(feed, records.reset_index(drop=True)) as columns:
        if len(columns.index) == 0 or not columns.names:
            typed = columns.frame()
            return BatchCheck(feed.feed_id, len(typed), typed, {})
        return _check(feed, columns, business_date, engine or Engine())


def _check(feed: Feed, columns: TypedColumns, business_date: dt.date, engine: Engine) -> BatchCheck:
    """Validate the columns of a batch (while they are typed, on the fast path)."""
    from safety_hub.quality.expectations import build_suite

    suite = build_suite(feed, business_date)
    result = engine.validate(suite, columns, f"batch_{feed.feed_id}")
    typed = columns.frame()
    check = BatchCheck(feed.feed_id, len(typed), typed, {})
    check.suite, check.gx_result = suite, result
    _collect_decisions(check, feed, result)
    return check


@contextlib.contextmanager
def _gc_paused():
    """No cyclic garbage collection inside the block (reference counting still frees).

    The decisions of a large batch are a list of broken rules per rejected row, one list
    object per row (136,000 at 1M rows): allocating that many containers triggers one
    or two full collections of the interpreter's objects (GX, pandas and pydantic make
    ~290,000 of them), 0.2-0.25 s each. The lists are kept, so collecting meanwhile
    finds nothing to free.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _collect_decisions(check: BatchCheck, feed: Feed, result) -> None:
    """The rows each rule rejected (or flagged), rule counts and the rule results, from GX's results."""
    for r in result.results:
        rule_id = r.expectation_config.meta["rule_id"]
        res = r.result or {}
        if r.exception_info and r.exception_info.get("raised_exception"):
            raise RuntimeError(f"feed {feed.feed_id}: rule {rule_id} could not run: {r.exception_info.get('exception_message')}")
        indexes = res.get("unexpected_index_list") or []
        target = check.flags if feed.validation.severity(rule_id) == "warning" else check.failures
        rows = [idx if isinstance(idx, int) else int(next(iter(idx.values()))) for idx in indexes]
        found = target.get
        for row in rows:
            broken = found(row)
            if broken is None:
                target[row] = [rule_id]
            else:
                broken.append(rule_id)
        check.rule_counts[rule_id] = len(indexes)
        check.rule_results.append(rule_result(feed, r, check.rows))


def rule_result(feed: Feed, r, rows: int) -> dict:
    """One expectation's ``validation_result`` row (``rows``: the batch's records, when GX counted none)."""
    rule_id = r.expectation_config.meta["rule_id"]
    res = r.result or {}
    return {
        "rule_id": rule_id,
        "severity": feed.validation.severity(rule_id),
        "expectation": r.expectation_config.type,
        "success": bool(r.success),
        "unexpected_count": int(res.get("unexpected_count") or 0),
        "unexpected_percent": float(res.get("unexpected_percent") or 0.0),
        "element_count": int(res.get("element_count") or rows),
    }


def _texts(col: pd.Series) -> list[str | None]:
    """``None if pd.isna(v) else str(v)`` for each value of ``col``."""
    missing = col.isna().to_numpy(dtype=bool)
    return [None if m else str(v) for v, m in zip(col.to_numpy(dtype=object), missing)]


# What ``json.dumps(text, ensure_ascii=False)`` escapes besides ``\\`` and ``"``: the C0 controls.
_JSON_CONTROL = r"[\x00-\x1f]"


def _arrow_text(col: pd.Series, positions: np.ndarray):
    """The values at ``positions`` of an Arrow-backed text column, as one Arrow ``large_string`` array."""
    import pyarrow as pa

    values = pa.array(col.array).take(pa.array(positions, pa.int64()))
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    return values.cast(pa.large_string()) if values.type != pa.large_string() else values


def _json_texts(values):
    """``json.dumps(v, ensure_ascii=False)`` of each value of an Arrow text array (``null`` where missing), as Arrow text.

    Backslash and quote are escaped in Arrow; the rare values holding a control character
    go through ``json.dumps`` itself.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pa.large_string()
    escaped = pc.replace_substring(pc.replace_substring(values, "\\", "\\\\"), '"', '\\"')
    quoted = pc.binary_join_element_wise(pa.scalar('"', text), escaped, pa.scalar('"', text), pa.scalar("", text))
    control = pc.fill_null(pc.match_substring_regex(values, _JSON_CONTROL), False)
    if pc.any(control).as_py():
        at = np.flatnonzero(control.to_numpy(zero_copy_only=False))
        fixed = pa.array([json.dumps(v, ensure_ascii=False) for v in values.take(pa.array(at)).to_pylist()], text)
        quoted = pc.replace_with_mask(quoted, control, fixed)
    return pc.fill_null(quoted, pa.scalar("null", text))


def _json_objects(columns: dict[str, object], n: int):
    """``json.dumps(dict(zip(names, values)), ensure_ascii=False)`` per row of Arrow text columns, as Arrow text."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pa.large_string()
    if not columns:
        return pa.array(["{}"] * n, text)
    parts: list = []
    for i, (name, values) in enumerate(columns.items()):
        prefix = ("{" if i == 0 else ", ") + json.dumps(name, ensure_ascii=False) + ": "
        parts += [pa.scalar(prefix, text), _json_texts(values)]
    parts.append(pa.scalar("}", text))
    return pc.binary_join_element_wise(*parts, pa.scalar("", text))


def _original_values(records: pd.DataFrame, positions: np.ndarray) -> list[str] | object:
    """The original values of the records at ``positions`` as JSON objects (column: text or null).

    Arrow-backed text columns (the landed records) are encoded in Arrow, whole columns at
    once; any other frame value by value (``str`` of each), as the scalar build always did.
    """
    import pyarrow as pa

    from safety_hub.quality.normalise import _is_arrow_text

    names = list(records.columns)
    if len(set(names)) == len(names) and all(_is_arrow_text(records[c]) for c in names):
        return _json_objects({c: _arrow_text(records[c], positions) for c in names}, len(positions))
    if all(pd.api.types.is_string_dtype(t) or t == object for t in records.dtypes):
        # Whole columns at once (the landed records are text): the same values as records.iloc[idx].
        picked = records.iloc[positions]
        texts = [_texts(picked.iloc[:, i]) for i in range(picked.shape[1])]
        return [json.dumps(dict(zip(names, row)), ensure_ascii=False) for row in zip(*texts)] if names else ["{}"] * len(positions)
    # mixed dtypes: a row through iloc upcasts like the scalar path always did
    return [json.dumps({k: (None if pd.isna(v) else str(v)) for k, v in records.iloc[idx].items()}, ensure_ascii=False) for idx in positions]


def _record_keys(typed: pd.DataFrame, key: list[str], positions: np.ndarray):
    """Each record's key (its key columns as text, missing as ``""``, joined by ``|``)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from safety_hub.quality.normalise import _is_arrow_text

    if not key:
        return [""] * len(positions)
    if all(_is_arrow_text(typed[k]) for k in key):
        text = pa.large_string()
        parts = [pc.fill_null(_arrow_text(typed[k], positions), pa.scalar("", text)) for k in key]
        return parts[0] if len(parts) == 1 else pc.binary_join_element_wise(*parts, pa.scalar("|", text))
    key_texts = [_texts(typed[k].iloc[positions]) for k in key]
    return ["|".join("" if v is None else v for v in parts) for parts in zip(*key_texts)]


def _repeated(values, counts) -> pd.Series:
    """``values`` (a list of text or an Arrow text array), each repeated ``counts[i]`` times, as a pandas text column
    (the dtype pandas gives a list of text)."""
    import pyarrow as pa

    if not isinstance(values, (pa.Array, pa.ChunkedArray)):
        values = pa.array(values, pa.large_string())
    counts = np.asarray(counts, dtype=np.int64)
    if not (counts == 1).all():
        values = values.take(pa.array(np.repeat(np.arange(len(counts), dtype=np.int64), counts)))
    return values.to_pandas()


_QUARANTINE_COLUMNS = ["feed_id", "batch_id", "business_date", "raw_file", "row_number", "record_key", "rule_id", "rule_description",
                       "original_values", "quarantined_at"]


def quarantine_frame(check: BatchCheck, records: pd.DataFrame, *, batch_id: str, business_date: dt.date, raw_file: str, key: list[str],
                     descriptions: dict[str, str], warnings: bool = False, rows: np.ndarray | None = None) -> pd.DataFrame:
    """One row per (rejected record, broken rule), keeping the original values.

    ``row_number`` is the record's physical row in its file (``rows``, from the landing),
    else its position. Rows refused at landing follow, with their raw text.
    With ``warnings=True``, the same for flagged (loaded) rows and their warning rules.
    """
    frame = _record_quarantine(check, records, batch_id=batch_id, business_date=business_date, raw_file=raw_file, key=key,
                               descriptions=descriptions, warnings=warnings, rows=rows)
    if warnings or check.landing_rejects is None:
        return frame
    landing = landing_quarantine(check.feed_id, check.landing_rejects, batch_id=batch_id, business_date=business_date, raw_file=raw_file)
    return landing if frame.empty else pd.concat([frame, landing], ignore_index=True)


def landing_quarantine(feed_id: str, rejects: pd.DataFrame, *, batch_id: str, business_date: dt.date, raw_file: str) -> pd.DataFrame:
    """The quarantine rows of the rows refused at landing (``landing.read_records``' rejects), with their raw text."""
    from safety_hub.ingest.landing.accounting import LANDING_RULES

    r = rejects
    return pd.DataFrame({
        "feed_id": feed_id, "batch_id": batch_id, "business_date": business_date,
        "raw_file": [f"{raw_file}/{name}" for name in r["file"]],
        "row_number": r["row"].astype("int64").tolist(), "record_key": "",
        "rule_id": r["rule"].tolist(),
        "rule_description": [f"{LANDING_RULES.get(rule, rule)}：{detail}" for rule, detail in zip(r["rule"], r["detail"])],
        "original_values": [json.dumps({"_raw": raw}, ensure_ascii=False) for raw in r["raw"]],
        "quarantined_at": dt.datetime.now(dt.timezone.utc),
    }, columns=_QUARANTINE_COLUMNS)


def _record_quarantine(check: BatchCheck, records: pd.DataFrame, *, batch_id: str, business_date: dt.date, raw_file: str, key: list[str],
                       descriptions: dict[str, str], warnings: bool, rows: np.ndarray | None) -> pd.DataFrame:
    records = records.reset_index(drop=True)
    now = dt.datetime.now(dt.timezone.utc)
    columns = _QUARANTINE_COLUMNS
    broken = sorted((check.flags if warnings else check.failures).items())
    if not broken:
        return pd.DataFrame([], columns=columns)
    positions = np.fromiter((idx for idx, _ in broken), dtype=np.int64, count=len(broken))
    counts = np.fromiter((len(rules) for _, rules in broken), dtype=np.int64, count=len(broken))
    rules = [rule for _, rs in broken for rule in rs]
    if not rules:
        return pd.DataFrame([], columns=columns)
    originals = _original_values(records, positions)
    record_keys = _record_keys(check.typed, key, positions)
    frame = pd.DataFrame({
        "feed_id": _repeated([check.feed_id], [len(rules)]),
        "batch_id": _repeated([batch_id], [len(rules)]),
        "business_date": [business_date] * len(rules),
        "raw_file": _repeated([raw_file], [len(rules)]),
        "row_number": np.repeat(np.asarray(rows)[positions] if rows is not None else positions + 1, counts).astype(np.int64, copy=False),
        "record_key": _repeated(record_keys, counts),
        "rule_id": _repeated(rules, np.ones(len(rules), dtype=np.int64)),
        "rule_description": _repeated([descriptions.get(rule, rule) for rule in rules], np.ones(len(rules), dtype=np.int64)),
        "original_values": _repeated(originals, counts),
        "quarantined_at": [now] * len(rules),
    }, columns=columns)
    return frame
