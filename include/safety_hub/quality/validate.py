"""Run a feed's suite over one batch and split it into valid and quarantined rows."""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from safety_hub.quality.normalise import UNPARSED, normalise
from safety_hub.registry import Feed

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

    @property
    def quarantined(self) -> int:
        return len(self.failures)

    @property
    def valid(self) -> int:
        return self.rows - self.quarantined

    @property
    def invalid_share(self) -> float:
        return self.quarantined / self.rows if self.rows else 0.0

    def valid_rows(self) -> pd.DataFrame:
        keep = ~self.typed.index.isin(list(self.failures))
        return self.typed.loc[keep, [c for c in self.typed.columns if not c.startswith(UNPARSED)]]


_gx_context = None


def _context():
    """One ephemeral GX context per process, progress bars off."""
    global _gx_context
    if _gx_context is None:
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        _gx_context = gx.get_context(mode="ephemeral")
        _gx_context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return _gx_context


# COMPLETE: every unexpected row index (what the quarantine needs), the counts and the
# unexpected values. The pandas ``unexpected_index_query`` is only the same index list
# again as a string (``df.filter(items=[...])``), built by filtering the frame once more
# per expectation, so it is not asked for.
RESULT_FORMAT = {"result_format": "COMPLETE", "return_unexpected_index_query": False}
_COLUMN_KWARGS = ("column", "column_A", "column_B", "column_list")


def _expectation_columns(expectation, known: set[str], *, besides_column: bool = False) -> set[str] | None:
    """The columns of ``known`` an expectation names (its column(s), row condition...).

    None when it must see the whole table: a table expectation, or rows filtered by a
    free-text condition that may name any column. ``besides_column``: leave out its
    ``column`` argument (what else it reads).
    """
    kwargs = expectation.configuration.to_json_dict().get("kwargs") or {}
    if not any(k in kwargs for k in _COLUMN_KWARGS):
        return None
    if isinstance(kwargs.get("row_condition"), str) and kwargs["row_condition"]:
        return None
    used: set[str] = set()
    stack: list = [{k: v for k, v in kwargs.items() if k != "column"} if besides_column else kwargs]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            if "pass_through_filter" in value:
                return None
            stack.extend(value.values())
        elif isinstance(value, (list, tuple)):
            stack.extend(value)
        elif isinstance(value, str) and value in known:
            used.add(value)
    return used


_BETWEEN = "expect_column_values_to_be_between"


def _ns_dates(typed: pd.DataFrame, suite) -> dict[str, pd.Series]:
    """Date columns of range checks as ``datetime64[ns]`` (same instants), where every value fits.

    GX compares ``datetime64[ns]`` columns with ``expect_column_values_to_be_between``
    vectorised and other resolutions value by value, with the same answers. A column
    with a value outside the ``ns`` range (years 1677-2262) is left out (checked as is).
    """
    out: dict[str, pd.Series] = {}
    for e in suite.expectations:
        name = e.configuration.kwargs.get("column")
        if e.expectation_type != _BETWEEN or not isinstance(name, str) or name not in typed.columns or name in out:
            continue
        col = typed[name]
        if isinstance(col.dtype, np.dtype) and col.dtype.kind == "M" and col.dtype != np.dtype("datetime64[ns]"):
            try:
                out[name] = col.astype("datetime64[ns]")
            except (OverflowError, ValueError):  # pandas OutOfBoundsDatetime is a ValueError
                continue
    return out


def _ranged(expectation, ns_dates: dict) -> str | None:
    """The column a range check is run on as ``datetime64[ns]``, else None."""
    name = expectation.configuration.kwargs.get("column")
    return name if expectation.expectation_type == _BETWEEN and name in ns_dates else None


def _expectation_groups(suite, columns: list[str], ns_dates: dict, sparse: set[str] = frozenset()) -> list[tuple[list[str] | None, list[int]]]:
    """Expectations (positions in the suite) grouped by the frame each is validated on.

    GX filters the whole batch frame several times per expectation (nulls, row
    conditions, unexpected rows), so each group gets only the columns its expectations
    name: an expectation joins the smallest group whose columns include all of its own,
    else starts one. ``None`` columns: the whole frame. Range checks on ``ns_dates``
    columns only share a frame with each other (they see those columns in ``ns``;
    everything else sees the columns exactly as normalised). Groups of ``sparse``
    columns only (nearly all missing: cheap to filter) share one frame, as every
    frame costs GX a fingerprint of its rows.
    Which frame an expectation sees changes nothing in its result, as long as it reads
    only the columns its arguments name (true of GX's column, column pair and
    multicolumn expectations and of ours; a table expectation gets the whole frame).
    """
    known = set(columns)
    wanted = [_expectation_columns(e, known) for e in suite.expectations]
    ranged = [_ranged(e, ns_dates) is not None for e in suite.expectations]
    groups: list[tuple[set[str] | None, bool, list[int]]] = []
    for i in sorted(range(len(wanted)), key=lambda i: (wanted[i] is None, -len(wanted[i] or ()), i)):
        cols = wanted[i]
        if cols is None:
            fits = [g for g in groups if g[0] is None and g[1] == ranged[i]]
        else:
            fits = [g for g in groups if g[0] is not None and g[1] == ranged[i] and cols <= g[0]]
        if fits:
            min(fits, key=lambda g: len(g[0] or ()))[2].append(i)
        else:
            groups.append((cols, ranged[i], [i]))
    merged: dict[bool, tuple[set[str], bool, list[int]]] = {}
    kept = []
    for cols, flag, members in groups:
        if cols and cols <= sparse:
            into = merged.setdefault(flag, (set(), flag, []))
            into[0].update(cols)
            into[2].extend(members)
        else:
            kept.append((cols, flag, members))
    groups = kept + list(merged.values())
    return [(None if cols is None else [c for c in columns if c in cols], sorted(members)) for cols, _, members in groups]


def _gx_order(suite) -> list[int]:
    """The order GX reports a suite's results in: grouped by ``column`` in order of first
    appearance, expectations without one where the first of them is
    (``Validator.process_expectations_for_validation``)."""
    order: dict[object, list[int]] = {}
    for i, e in enumerate(suite.expectations):
        column = e.configuration.kwargs.get("column")
        order.setdefault(column if isinstance(column, str) else None, []).append(i)
    return [i for members in order.values() for i in members]


_NOT_NULL = "expect_column_values_to_not_be_null"
_SPARSE = 0.9  # share of missing values from which a column counts as sparse (cheap to filter)


def _nullness_only(suite, members: list[int], columns: list[str]) -> list[str]:
    """Columns of a group its expectations only check for missing values.

    ``expect_column_values_to_not_be_null`` reads whether each value is missing and
    reports the missing ones (all NA); nothing else in the group reads the column.
    """
    known = set(columns)
    out = []
    for c in columns:
        only = True
        for i in members:
            e = suite.expectations[i]
            target = e.configuration.kwargs.get("column")
            if e.expectation_type == _NOT_NULL and target == c:
                others = _expectation_columns(e, known, besides_column=True)
                only = others is not None and c not in others
            else:
                refs = _expectation_columns(e, known)
                only = refs is not None and c not in refs
            if not only:
                break
        if only:
            out.append(c)
    return out


def _missing_marks(col: pd.Series) -> pd.Series | None:
    """``col`` with each present value replaced by ``""`` (same dtype, same missing rows).

    What a not-null check needs of an Arrow text column: GX fingerprints (hashes)
    every batch it validates, which for a key column of unique strings costs about a
    second per million rows; ``""`` everywhere hashes at once. None for other dtypes.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if not (isinstance(col.dtype, pd.StringDtype) and col.dtype.storage == "pyarrow"):
        return None
    missing = pa.array(col.isna().to_numpy(dtype=bool))
    marks = pc.if_else(missing, pa.scalar(None, pa.large_string()), pa.scalar("", pa.large_string()))
    out = pd.Series(pd.array(marks, dtype=col.dtype), index=col.index, name=col.name)
    return out if out.dtype == col.dtype else None


def _raised(result) -> bool:
    """Whether an expectation could not run (GX reports it per result or per failed metric)."""
    info = result.exception_info or {}
    return bool(info.get("raised_exception")) or any(isinstance(v, dict) and v.get("raised_exception") for v in info.values())


def _validate(batch_def, suite, typed: pd.DataFrame):
    """What ``batch.validate(suite)`` on ``typed`` returns, one small frame per group of expectations.

    The same result per expectation, in the same order (expectations that could not run
    first, as GX reports them). The suite result's meta describes the first group's
    batch, without the data fingerprint (each group's frame has its own).
    """
    from great_expectations import __version__ as gx_version
    from great_expectations.core.expectation_validation_result import ExpectationSuiteValidationResult
    from great_expectations.util import convert_to_json_serializable
    from great_expectations.validator.v1_validator import Validator

    ns_dates = _ns_dates(typed, suite)
    sparse = {c for c in typed.columns if typed[c].isna().mean() >= _SPARSE}
    results: list = [None] * len(suite.expectations)
    meta: dict = {"great_expectations_version": gx_version}
    batch_id = None
    for n, (columns, members) in enumerate(_expectation_groups(suite, list(typed.columns), ns_dates, sparse)):
        data = typed if columns is None else typed[columns]
        cast = {c for c in (_ranged(suite.expectations[i], ns_dates) for i in members) if c is not None}
        marks = {} if columns is None else {c: m for c in _nullness_only(suite, members, columns) if (m := _missing_marks(typed[c])) is not None}
        if cast or marks:
            data = data.copy(deep=False)
            for c in sorted(cast):
                data[c] = ns_dates[c]
            for c, m in marks.items():
                data[c] = m
        validator = Validator(batch_definition=batch_def, batch_parameters={"dataframe": data}, result_format=RESULT_FORMAT)
        for i in members:
            results[i] = validator.validate_expectation(suite.expectations[i])
        if n == 0:
            batch_id = validator.active_batch_id
            wrapped = validator._wrapped_validator  # what validate_expectation_suite puts in its meta
            markers = dict(wrapped.active_batch_markers or {})
            markers.pop("pandas_data_fingerprint", None)
            meta.update(batch_spec=convert_to_json_serializable(wrapped.active_batch_spec), batch_markers=markers,
                        active_batch_definition=convert_to_json_serializable(wrapped.active_batch_definition))
    order = _gx_order(suite)
    failed = {i for i in order if _raised(results[i])}
    ordered = [results[i] for i in order if i in failed] + [results[i] for i in order if i not in failed]
    evaluated = len(ordered)
    successful = sum(1 for r in ordered if r.success)
    return ExpectationSuiteValidationResult(
        results=ordered,
        success=successful == evaluated,
        suite_name=suite.name,
        statistics={
            "evaluated_expectations": evaluated,
            "successful_expectations": successful,
            "unsuccessful_expectations": evaluated - successful,
            "success_percent": successful / evaluated * 100 if evaluated else None,
        },
        meta=meta,
        batch_id=batch_id,
    )


def check_batch(feed: Feed, records: pd.DataFrame, business_date: dt.date) -> BatchCheck:
    """Normalise ``records`` (agency columns, text) and validate them with GX."""
    from safety_hub.quality.expectations import build_suite

    typed = normalise(feed, records.reset_index(drop=True))
    check = BatchCheck(feed.feed_id, len(typed), typed, {})
    if typed.empty:
        return check
    ctx = _context()
    name = f"batch_{feed.feed_id}"
    try:
        source = ctx.data_sources.get(name)
    except KeyError:
        source = ctx.data_sources.add_pandas(name)
    try:
        asset = source.get_asset("records")
    except LookupError:
        asset = source.add_dataframe_asset("records")
    try:
        batch_def = asset.get_batch_definition("whole")
    except KeyError:
        batch_def = asset.add_batch_definition_whole_dataframe("whole")
    suite = build_suite(feed, business_date)
    result = _validate(batch_def, suite, typed)
    check.suite, check.gx_result = suite, result
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
        check.rule_results.append({
            "rule_id": rule_id,
            "severity": feed.validation.severity(rule_id),
            "expectation": r.expectation_config.type,
            "success": bool(r.success),
            "unexpected_count": int(res.get("unexpected_count") or 0),
            "unexpected_percent": float(res.get("unexpected_percent") or 0.0),
            "element_count": int(res.get("element_count") or len(typed)),
        })
    return check


def _texts(col: pd.Series) -> list[str | None]:
    """``None if pd.isna(v) else str(v)`` for each value of ``col``."""
    missing = col.isna().to_numpy(dtype=bool)
    return [None if m else str(v) for v, m in zip(col.to_numpy(dtype=object), missing)]


def quarantine_frame(check: BatchCheck, records: pd.DataFrame, *, batch_id: str, business_date: dt.date, raw_file: str, key: list[str],
                     descriptions: dict[str, str], warnings: bool = False) -> pd.DataFrame:
    """One row per (rejected record, broken rule), keeping the original values.

    With ``warnings=True``, the same for flagged (loaded) rows and their warning rules.
    """
    records = records.reset_index(drop=True)
    now = dt.datetime.now(dt.timezone.utc)
    columns = ["feed_id", "batch_id", "business_date", "raw_file", "row_number", "record_key", "rule_id", "rule_description", "original_values", "quarantined_at"]
    broken = sorted((check.flags if warnings else check.failures).items())
    if not broken:
        return pd.DataFrame([], columns=columns)
    positions = [idx for idx, _ in broken]
    if all(pd.api.types.is_string_dtype(t) or t == object for t in records.dtypes):
        # Whole columns at once (the landed records are text): the same values as records.iloc[idx].
        picked = records.iloc[positions]
        texts = [_texts(picked.iloc[:, i]) for i in range(picked.shape[1])]
        names = list(picked.columns)
        originals = [json.dumps(dict(zip(names, row)), ensure_ascii=False) for row in zip(*texts)] if names else ["{}"] * len(positions)
    else:  # mixed dtypes: a row through iloc upcasts like the scalar path always did
        originals = [json.dumps({k: (None if pd.isna(v) else str(v)) for k, v in records.iloc[idx].items()}, ensure_ascii=False) for idx in positions]
    key_texts = [_texts(check.typed[k].iloc[positions]) for k in key]
    record_keys = ["|".join("" if v is None else v for v in parts) for parts in zip(*key_texts)] if key else [""] * len(positions)
    counts = [len(rules) for _, rules in broken]
    rules = [rule for _, rs in broken for rule in rs]
    if not rules:
        return pd.DataFrame([], columns=columns)
    frame = pd.DataFrame({
        "feed_id": [check.feed_id] * len(rules),
        "batch_id": [batch_id] * len(rules),
        "business_date": [business_date] * len(rules),
        "raw_file": [raw_file] * len(rules),
        "row_number": np.repeat(np.asarray(positions, dtype=np.int64) + 1, counts).tolist(),
        "record_key": [k for k, n in zip(record_keys, counts) for _ in range(n)],
        "rule_id": rules,
        "rule_description": [descriptions.get(rule, rule) for rule in rules],
        "original_values": [o for o, n in zip(originals, counts) for _ in range(n)],
        "quarantined_at": [now] * len(rules),
    }, columns=columns)
    return frame
