"""Run a feed's suite over one batch and split it into valid and quarantined rows."""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import json
import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from safety_hub.quality.normalise import UNPARSED, TypedColumns, _is_arrow_text, normalise  # noqa: F401  (normalise: still importable from here)
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


_gx_context = None
_gx_spare_context = None


def _new_context():
    """An ephemeral GX context, progress bars off, our expectations registered (GX makes it its current project)."""
    from safety_hub.quality.gxcontext import get_context

    return get_context()


def _context():
    """One ephemeral GX context per process."""
    global _gx_context
    if _gx_context is None:
        _gx_context = _new_context()
    return _gx_context


def _spare_context():
    """A second ephemeral GX context (its own data sources and execution engines), for loading
    batches ahead (``_Batches``). GX's current context stays what it was."""
    global _gx_spare_context
    if _gx_spare_context is None:
        from great_expectations.data_context.data_context.context_factory import project_manager
        from great_expectations.exceptions import DataContextRequiredError

        try:
            current = project_manager.get_current_project()
        except DataContextRequiredError:
            current = _context()
        spare = _new_context()
        project_manager.set_project(current)
        _gx_spare_context = spare
    return _gx_spare_context


# COMPLETE: every unexpected row index (what the quarantine needs), the counts and the
# unexpected values. The pandas ``unexpected_index_query`` is only the same index list
# again as a string (``df.filter(items=[...])``), built by filtering the frame once more
# per expectation, so it is not asked for.
RESULT_FORMAT = {"result_format": "COMPLETE", "return_unexpected_index_query": False}
_COLUMN_KWARGS = ("column", "column_A", "column_B", "column_list")


# An expectation's kwargs as JSON, built once per expectation during a _validate call
# (GX builds its configuration anew on every access): id -> (expectation, kwargs).
_kwargs_memo: dict[int, tuple[object, dict]] = {}


def _json_kwargs(expectation) -> dict:
    """``expectation.configuration.to_json_dict()["kwargs"]`` (read only)."""
    hit = _kwargs_memo.get(id(expectation))
    if hit is not None and hit[0] is expectation:
        return hit[1]
    kwargs = expectation.configuration.to_json_dict().get("kwargs") or {}
    _kwargs_memo[id(expectation)] = (expectation, kwargs)
    return kwargs


def _expectation_columns(expectation, known: set[str], *, besides_column: bool = False) -> set[str] | None:
    """The columns of ``known`` an expectation names (its column(s), row condition...).

    None when it must see the whole table: a table expectation, or rows filtered by a
    free-text condition that may name any column. ``besides_column``: leave out its
    ``column`` argument (what else it reads).
    """
    kwargs = _json_kwargs(expectation)
    if not any(k in kwargs for k in _COLUMN_KWARGS):
        return None
    if isinstance(kwargs.get("row_condition"), str) and kwargs["row_condition"]:
        return None
    return _named_columns({k: v for k, v in kwargs.items() if k != "column"} if besides_column else kwargs, known)


def _named_columns(kwargs: dict, known: set[str]) -> set[str] | None:
    """The columns of ``known`` named anywhere in (JSON) expectation kwargs; None for a free-text filter."""
    used: set[str] = set()
    stack: list = [kwargs]
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
_EQUALITY = ("==", "!=")
_MEMBERSHIP = ("IN", "NOT_IN")


def _equality_condition_columns(condition) -> set[str] | None:
    """The columns a (JSON) row condition reads, if it only compares them for (in)equality with
    text, for membership in lists of text, or tests them for missing values; else None."""
    if not isinstance(condition, dict):
        return None
    kind = condition.get("type")
    if kind in ("and", "or"):
        parts = [_equality_condition_columns(c) for c in condition.get("conditions") or []]
        return None if not parts or any(p is None for p in parts) else set().union(*parts)
    name = (condition.get("column") or {}).get("name") if isinstance(condition.get("column"), dict) else None
    if not isinstance(name, str):
        return None
    if kind == "nullity":
        return {name}
    if kind == "comparison":
        op, value = condition.get("operator"), condition.get("parameter")
        if op in _EQUALITY and isinstance(value, str):
            return {name}
        if op in _MEMBERSHIP and isinstance(value, list) and all(isinstance(v, str) for v in value):
            return {name}
    return None


def _condition_only_in(expectation, known: set[str], text: set[str]) -> frozenset[str]:
    """Text columns an expectation reads only in its row condition, compared there only for
    (in)equality, membership or missing values: GX may filter on them as ``category``.

    GX applies a row condition with ``DataFrame.query`` on each metric of the expectation
    (five times or so). On a categorical column the comparison is one on small integer
    codes, and the filtered frame copies codes, not strings; the rows selected are the
    same (``==``/``in`` are ``isin`` either way, missing values match neither).
    """
    kwargs = _json_kwargs(expectation)
    names = _equality_condition_columns(kwargs.get("row_condition"))
    if not names:
        return frozenset()
    others = _named_columns({k: v for k, v in kwargs.items() if k != "row_condition"}, known)
    if others is None:
        return frozenset()
    return frozenset(c for c in names - others if c in known and c in text)


def _missing_share(col: pd.Series) -> float:
    """``col.isna().mean()``; for Arrow text, from the arrays' null counts."""
    if _is_arrow_text(col) and len(col):
        return col.array.__arrow_array__().null_count / len(col)
    return col.isna().mean()


def _ranged(expectation, ns_columns: set[str]) -> str | None:
    """The column a range check is run on as ``datetime64[ns]``, else None."""
    name = _json_kwargs(expectation).get("column")
    return name if expectation.expectation_type == _BETWEEN and name in ns_columns else None


def _expectation_groups(suite, columns: list[str], ns_columns: set[str], sparse: set[str] = frozenset(),
                        categorical: list[frozenset[str]] | None = None,
                        complete: set[str] = frozenset()) -> list[tuple[list[str] | None, list[int]]]:
    """Expectations (positions in the suite) grouped by the frame each is validated on.

    GX filters the whole batch frame several times per expectation (nulls, row
    conditions, unexpected rows), so each group gets only the columns its expectations
    name: an expectation joins the smallest group whose columns include all of its own,
    else starts one. ``None`` columns: the whole frame. Range checks on ``ns_columns``
    columns only share a frame with each other (they see those columns in ``ns``;
    everything else sees the columns exactly as normalised); likewise expectations
    filtered on ``categorical[i]`` columns (given to them as ``category``) only share a
    frame with those filtered on the same ones. Groups of ``sparse``
    columns only (nearly all missing: cheap to filter) and groups of single-column checks
    that GX filters the frame for only at their unexpected rows share one frame, as every
    frame costs GX a fingerprint of its rows: (not) null checks, and other column map
    checks of ``complete`` columns (no missing value: GX's dropping of the missing rows
    is then a shallow copy of the frame).
    Which frame an expectation sees changes nothing in its result, as long as it reads
    only the columns its arguments name (true of GX's column, column pair and
    multicolumn expectations and of ours; a table expectation gets the whole frame).
    """
    known = set(columns)
    wanted = [_expectation_columns(e, known) for e in suite.expectations]
    ranged = [(_ranged(e, ns_columns) is not None, categorical[i] if categorical else frozenset()) for i, e in enumerate(suite.expectations)]
    groups: list[tuple[set[str] | None, tuple, list[int]]] = []
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
    merged: dict[tuple, tuple[set[str], tuple, list[int]]] = {}
    kept = []
    for cols, flag, members in groups:
        if cols and not flag[1] and (cols <= sparse or all(_filters_unexpected_only(suite.expectations[i], complete) for i in members)):
            into = merged.setdefault(flag, (set(), flag, []))
            into[0].update(cols)
            into[2].extend(members)
        else:
            kept.append((cols, flag, members))
    # Groups that overlap (a column in common) and stay small together share a frame: a
    # fingerprint saved for one more column filtered (pair checks along a chain of dates,
    # checks under the same row condition).
    joined: list[tuple[set[str] | None, tuple, list[int]]] = []
    for cols, flag, members in kept:
        into = None if cols is None else next(
            (g for g in joined if g[0] is not None and g[1] == flag and g[0] & cols and len(g[0] | cols) <= _JOIN_COLUMNS), None)
        if into is None:
            joined.append((None if cols is None else set(cols), flag, list(members)))
        else:
            into[0].update(cols)
            into[2].extend(members)
    groups = joined + list(merged.values())
    return [(None if cols is None else [c for c in columns if c in cols], sorted(members)) for cols, _, members in groups]


_JOIN_COLUMNS = 3  # overlapping groups are joined up to this many columns


_NULL_CHECKS = ("expect_column_values_to_not_be_null", "expect_column_values_to_be_null")


def _nullness_check(expectation) -> bool:
    """A (not) null check of one column, on every row (no row condition)."""
    kwargs = _json_kwargs(expectation)
    return expectation.expectation_type in _NULL_CHECKS and isinstance(kwargs.get("column"), str) and not kwargs.get("row_condition")


def _filters_unexpected_only(expectation, complete: set[str]) -> bool:
    """A check of one column on every row that filters its frame only at its unexpected rows:
    a (not) null check, or a column map check of a column without missing values."""
    if _nullness_check(expectation):
        return True
    from great_expectations.expectations.expectation import ColumnMapExpectation

    kwargs = _json_kwargs(expectation)
    return (isinstance(expectation, ColumnMapExpectation) and kwargs.get("column") in complete
            and not kwargs.get("row_condition") and not any(k in kwargs for k in _COLUMN_KWARGS if k != "column"))


def _gx_order(suite) -> list[int]:
    """The order GX reports a suite's results in: grouped by ``column`` in order of first
    appearance, expectations without one where the first of them is
    (``Validator.process_expectations_for_validation``)."""
    order: dict[object, list[int]] = {}
    for i, e in enumerate(suite.expectations):
        column = _json_kwargs(e).get("column")
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
            target = _json_kwargs(e).get("column")
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

    if not _is_arrow_text(col):
        return None
    missing = pa.array(col.isna().to_numpy(dtype=bool))
    marks = pc.if_else(missing, pa.scalar(None, pa.large_string()), pa.scalar("", pa.large_string()))
    out = pd.Series(pd.array(marks, dtype=col.dtype), index=col.index, name=col.name)
    return out if out.dtype == col.dtype else None


def _raised(result) -> bool:
    """Whether an expectation could not run (GX reports it per result or per failed metric)."""
    info = result.exception_info or {}
    return bool(info.get("raised_exception")) or any(isinstance(v, dict) and v.get("raised_exception") for v in info.values())


def _validate(batch_def, suite, typed, spare_batch_def=None):
    """What ``batch.validate(suite)`` on ``typed`` returns, one small frame per group of expectations.

    ``typed``: the typed frame, or its ``TypedColumns`` while they are being typed (each
    group is validated as soon as its columns are ready). The same result per
    expectation, in the same order (expectations that could not run first, as GX reports
    them). The suite result's meta describes the first group's batch, without the data
    fingerprint (each group's frame has its own). ``spare_batch_def``: the same batch
    definition in another GX context, on which every other group's batch is loaded ahead
    (see ``_Batches``).
    """
    from safety_hub.domain.uscc import uscc_masks_shared

    _kwargs_memo.clear()
    try:
        with uscc_masks_shared():  # a uscc column's two rules (valid_uscc, pilot_era) share one pass
            return _validate_groups(batch_def, suite, typed if isinstance(typed, TypedColumns) else _Typed(typed), spare_batch_def)
    finally:
        _kwargs_memo.clear()


class _Batches:
    """GX validators for the groups' frames, each one's batch loaded while the group before is validated.

    Making a validator loads its batch: GX fingerprints the frame (hashes every row, most
    of it without the GIL) and makes it the active batch of its data source's execution
    engine. The next group's validator is made in a helper thread while this thread
    validates the current group; consecutive groups use the two batch definitions in
    turn (the same data source in two GX contexts), so the batch being loaded and the
    batch being validated never share a context or an engine. Expectations are only
    ever validated here, one after the other.
    """

    def __init__(self, batch_defs: list):
        from concurrent.futures import ThreadPoolExecutor

        self._defs = batch_defs
        self._pool = ThreadPoolExecutor(max_workers=1) if len(batch_defs) > 1 else None
        self._made: dict[int, object] = {}

    def request(self, n: int, data: pd.DataFrame) -> None:
        """Start making group ``n``'s validator (on its own data source)."""
        from great_expectations.validator.v1_validator import Validator

        validator = Validator(batch_definition=self._defs[n % len(self._defs)], batch_parameters={"dataframe": data}, result_format=RESULT_FORMAT)
        self._made[n] = self._pool.submit(_load_batch, validator) if self._pool is not None else validator

    def get(self, n: int):
        made = self._made.pop(n)
        return made.result() if self._pool is not None else made

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


def _load_batch(validator):
    validator._wrapped_validator  # noqa: B018  (loads the batch: what the first validate_expectation would do)
    return validator


class _Typed:
    """A typed frame with TypedColumns' interface (every column ready)."""

    def __init__(self, frame: pd.DataFrame):
        self._df = frame
        self.names = list(frame.columns)

    def column(self, name: str) -> pd.Series:
        return self._df[name]

    def frame(self) -> pd.DataFrame:
        return self._df


def _plan_facts(typed, suite) -> tuple[set[str], set[str], set[str], list[frozenset[str]]]:
    """What grouping needs to know of the columns: (range-checked dates to give as ns, sparse
    columns, complete columns, categorical condition columns per expectation).

    From the data when the frame is there; from the agency columns and the registry types
    while it is being typed (a fact that turns out wrong costs time, never a result: each
    group's frame is built from the real columns, see ``_GroupFrames.build``).
    """
    if isinstance(typed, _Typed):
        frame = typed.frame()
        ranged = {c for c in _between_columns(suite) if c in frame.columns and isinstance(frame[c].dtype, np.dtype)
                  and frame[c].dtype.kind == "M" and frame[c].dtype != np.dtype("datetime64[ns]")}
        sparse = {c for c in frame.columns if _missing_share(frame[c]) >= _SPARSE}
        complete = {c for c in frame.columns if _missing_share(frame[c]) == 0}
        text = {c for c in frame.columns if _is_arrow_text(frame[c])}
    else:
        kinds = {c: typed.column_type(c) for c in typed.names}
        raws = {c: typed.raw(c) for c in typed.names}
        ranged = {c for c in _between_columns(suite) if kinds.get(c) == "date"}
        text = {c for c, kind in kinds.items() if kind in _TEXT_TYPES}
        # A typed column misses at least the values its agency column misses; text types miss nothing more but blanks.
        shares = {c: (raw.isna().mean() if len(raw) else 0.0) for c, raw in raws.items() if raw is not None}
        sparse = {c for c, share in shares.items() if share >= _SPARSE} | {c for c in typed.names if c.startswith(UNPARSED)}
        complete = {c for c, share in shares.items() if share == 0 and c in text and not c.startswith(UNPARSED)}
    known = set(typed.names)
    condition_only = [_condition_only_in(e, known, text) for e in suite.expectations]
    return ranged, sparse, complete, condition_only


_TEXT_TYPES = ("str", "code", "uscc", "org_name", "district", "enum")


def _between_columns(suite) -> set[str]:
    return {name for e in suite.expectations if e.expectation_type == _BETWEEN and isinstance(name := _json_kwargs(e).get("column"), str)}


class _GroupFrames:
    """Builds each group's frame from the real typed columns (casts and replacements made once per column)."""

    def __init__(self, typed, suite):
        self.typed, self.suite = typed, suite
        self._ns: dict[str, pd.Series | None] = {}
        self._categories: dict[str, pd.Series] = {}

    def ns(self, name: str) -> pd.Series | None:
        """The column in ``datetime64[ns]`` (same instants) if it is a date column that fits, else None."""
        if name not in self._ns:
            col = self.typed.column(name)
            self._ns[name] = None
            if isinstance(col.dtype, np.dtype) and col.dtype.kind == "M" and col.dtype != np.dtype("datetime64[ns]"):
                try:
                    self._ns[name] = col.astype("datetime64[ns]")
                except (OverflowError, ValueError):  # pandas OutOfBoundsDatetime is a ValueError
                    pass
        return self._ns[name]

    def category(self, name: str) -> pd.Series | None:
        if name not in self._categories:
            col = self.typed.column(name)
            self._categories[name] = col.astype("category") if _is_arrow_text(col) else None
        return self._categories[name]

    def build(self, columns: list[str] | None, members: list[int], ranged: set[str], condition_only: list[frozenset[str]]) -> pd.DataFrame:
        if columns is None:
            return self.typed.frame()
        data = pd.DataFrame({c: self.typed.column(c) for c in columns}, copy=False) if columns else self.typed.frame()[[]]
        replace: dict[str, pd.Series] = {}
        for c in {c for c in (_ranged(self.suite.expectations[i], ranged) for i in members) if c is not None}:
            if (ns := self.ns(c)) is not None:
                replace[c] = ns
        for c in _nullness_only(self.suite, members, columns):
            if (m := _missing_marks(data[c])) is not None:
                replace[c] = m
        for c in {c for i in members for c in condition_only[i]}:
            if (cat := self.category(c)) is not None:
                replace[c] = cat
        for c in sorted(replace):
            data[c] = replace[c]
        return data


def _validate_groups(batch_def, suite, typed, spare_batch_def=None):
    from great_expectations import __version__ as gx_version
    from great_expectations.core.expectation_validation_result import ExpectationSuiteValidationResult
    from great_expectations.util import convert_to_json_serializable

    ranged, sparse, complete, condition_only = _plan_facts(typed, suite)
    groups = _expectation_groups(suite, list(typed.names), ranged, sparse, condition_only, complete)
    if isinstance(typed, TypedColumns):  # the groups whose columns are typed first go first; whole-frame ones last
        groups.sort(key=lambda g: (g[0] is None, max((typed.rank(c) for c in g[0] or ()), default=0)))
    frames = _GroupFrames(typed, suite)
    results: list = [None] * len(suite.expectations)
    meta: dict = {"great_expectations_version": gx_version}
    batch_id = None
    batches = _Batches([batch_def] if spare_batch_def is None else [batch_def, spare_batch_def])
    try:
        if groups:
            batches.request(0, frames.build(groups[0][0], groups[0][1], ranged, condition_only))
        for n, (columns, members) in enumerate(groups):
            if n + 1 < len(groups):
                batches.request(n + 1, frames.build(groups[n + 1][0], groups[n + 1][1], ranged, condition_only))
            validator = batches.get(n)
            for i in members:
                results[i] = validator.validate_expectation(suite.expectations[i])
            if n == 0:
                batch_id = validator.active_batch_id
                wrapped = validator._wrapped_validator  # what validate_expectation_suite puts in its meta
                markers = dict(wrapped.active_batch_markers or {})
                markers.pop("pandas_data_fingerprint", None)
                meta.update(batch_spec=convert_to_json_serializable(wrapped.active_batch_spec), batch_markers=markers,
                            active_batch_definition=convert_to_json_serializable(wrapped.active_batch_definition))
    finally:
        batches.close()
    order = _gx_order(suite)
    failed = {i for i in order if _raised(results[i])}
    ordered = [results[i] for i in order if i in failed] + [results[i] for i in order if i not in failed]
    return suite_result(ordered, suite.name, meta, batch_id)


def suite_result(results: list, suite_name: str, meta: dict, batch_id):
    """The suite's ``ExpectationSuiteValidationResult`` from its expectations' results, with the statistics GX computes."""
    from great_expectations.core.expectation_validation_result import ExpectationSuiteValidationResult

    evaluated = len(results)
    successful = sum(1 for r in results if r.success)
    return ExpectationSuiteValidationResult(
        results=results,
        success=successful == evaluated,
        suite_name=suite_name,
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
    """Normalise ``records`` (agency columns, text) and validate them with GX.

    The columns are typed in worker threads while GX validates the groups of
    expectations whose columns are ready (``TypedColumns``, ``_validate``).
    """
    with _gc_paused(), TypedColumns(feed, records.reset_index(drop=True), workers=_TYPING_WORKERS) as columns:
        if len(columns.index) == 0 or not columns.names:
            typed = columns.frame()
            return BatchCheck(feed.feed_id, len(typed), typed, {})
        return _check(feed, columns, business_date)


# Validate each group of expectations as soon as its columns are typed (False: type all columns first).
_OVERLAP = True
# Load the next group's batch while a group is validated, in a second GX context (see _Batches).
_PREFETCH = True


def _batch_definition(name: str, ctx=None):
    """The whole-dataframe batch definition of the pandas data source ``name`` (made once per context)."""
    ctx = ctx or _context()
    try:
        source = ctx.data_sources.get(name)
    except KeyError:
        source = ctx.data_sources.add_pandas(name)
    try:
        asset = source.get_asset("records")
    except LookupError:
        asset = source.add_dataframe_asset("records")
    try:
        return asset.get_batch_definition("whole")
    except KeyError:
        return asset.add_batch_definition_whole_dataframe("whole")
_TYPING_WORKERS: int | None = None  # threads typing the columns (None: one per core)


def _check(feed: Feed, columns: TypedColumns, business_date: dt.date) -> BatchCheck:
    """Validate the columns of a batch while they are typed."""
    from safety_hub.quality.expectations import build_suite

    batch_def = _batch_definition(f"batch_{feed.feed_id}")
    # The same data source in a second context: GX names a batch "<data source>-<asset>" and
    # puts that id in every result's configuration, so both give the same results.
    spare = _batch_definition(f"batch_{feed.feed_id}", _spare_context()) if _PREFETCH else None
    suite = build_suite(feed, business_date)
    result = _validate(batch_def, suite, columns if _OVERLAP else columns.frame(), spare)
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
        "row_number": np.repeat(np.asarray(rows)[positions] if rows is not None else np.asarray(positions, dtype=np.int64) + 1, counts).tolist(),
        "record_key": [k for k, n in zip(record_keys, counts) for _ in range(n)],
        "rule_id": rules,
        "rule_description": [descriptions.get(rule, rule) for rule in rules],
        "original_values": [o for o, n in zip(originals, counts) for _ in range(n)],
        "quarantined_at": [now] * len(rules),
    }, columns=columns)
    return frame
