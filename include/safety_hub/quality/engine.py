"""The one seam between the platform and Great Expectations: a suite validated over one typed batch.

Contract
--------
Input:   a feed's ``ExpectationSuite`` (``expectations.build_suite``: every expectation carries its
         ``meta.rule_id``), the batch's typed columns (a ``DataFrame`` as ``normalise``
         returns it, or its ``normalise.TypedColumns`` while they are being typed) and the name
         of the batch's pandas data source (``batch_<feed_id>``).
Output:  one ``ExpectationSuiteValidationResult``: per expectation what one
         ``batch.validate(suite, result_format=RESULT_FORMAT)`` over the whole typed frame
         reports (same configuration, success, counts, unexpected values and every
         ``unexpected_index_list``), in GX's order (expectations that could not run first).
         The caller (``validate.check_batch``) turns it into decisions: quarantined rows with
         their error rules, flagged rows with their warning rules, rule counts.
Decides: only how GX is driven, never a result. Two paths, one switch
         (``Options.path``, env ``SAFETY_HUB_GX_PATH``, read when an ``Engine`` is made):

         * ``plain``: ``batch_definition.get_batch(dataframe=typed frame).validate(suite)``,
           the whole suite over the whole frame (the reference);
         * ``fast`` (default): the expectations grouped by the columns they name and each
           group validated as a suite of its own on a frame of just those columns
           (``_expectation_groups``): GX filters and fingerprints a batch's whole frame
           several times per expectation, so small frames save most of its time. A frame
           may hold a column in another representation that every expectation of its
           group reads alike (a date range check on ``datetime64[ns]``, a not-null check on
           ``""``/missing marks, a row-condition column as ``category``). With
           ``Options.overlap`` (env ``SAFETY_HUB_GX_OVERLAP``, default on) a group is
           validated as soon as the columns it names are typed.
GX used: ``context.data_sources.add_pandas`` / ``add_dataframe_asset`` /
         ``add_batch_definition_whole_dataframe``, ``BatchDefinition.get_batch``,
         ``Batch.validate(ExpectationSuite, result_format=...)``, ``ExpectationSuite``,
         ``ExpectationSuiteValidationResult`` (public API), in an ephemeral context per
         ``Engine`` (``gxcontext.get_context``). Names outside GX's public API that the
         project still relies on, here and in ``expectations``, ``stream`` and
         ``gxcontext``, are listed in ``PRIVATE_GX_NAMES``; ``tests/unit/test_gx_private.py``
         pins each one.

No module state but one: an ``Engine`` holds its context and batch definitions; make one per
delivery (``stream.validate_delivery``) or let ``check_batch`` make one per batch (~20 ms). While
a fast-path validation runs, GX's pandas engine does not fingerprint the frames it loads
(``_no_fingerprints``: its module threshold, restored when the last one ends).
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from safety_hub.quality.normalise import UNPARSED, TypedColumns, _is_arrow_text

# COMPLETE: every unexpected row index (what the quarantine needs), the counts and the
# unexpected values. The pandas ``unexpected_index_query`` is only the same index list
# again as a string (``df.filter(items=[...])``), built by filtering the frame once more
# per expectation, so it is not asked for.
RESULT_FORMAT = {"result_format": "COMPLETE", "return_unexpected_index_query": False}

PATHS = ("fast", "plain")
PATH_ENV = "SAFETY_HUB_GX_PATH"
OVERLAP_ENV = "SAFETY_HUB_GX_OVERLAP"

# Names outside GX's public API (``@public_api``) the project relies on: (module, attribute
# path, parameters its signature must have, where and why). ``tests/unit/test_gx_private.py``
# imports each one and checks it, so an upgrade of GX that moves or changes one fails there
# with the name. Behaviour mirrored from GX (not called) is listed too: a change there must
# be re-checked against the mirror.
PRIVATE_GX_NAMES: tuple[tuple[str, str, tuple[str, ...], str], ...] = (
    ("great_expectations.data_context.types.base", "ProgressBarsConfig", ("globally",),
     "gxcontext.get_context: progress bars off (TQDM_DISABLE is ignored)"),
    ("great_expectations.expectations.expectation", "ColumnMapExpectation", (),
     "expectations: base of the custom column checks; engine/stream: which expectations are row-by-row"),
    ("great_expectations.expectations.expectation", "ColumnPairMapExpectation", (), "expectations, stream.plan"),
    ("great_expectations.expectations.expectation", "MulticolumnMapExpectation", (), "expectations, stream.plan"),
    ("great_expectations.expectations.expectation", "Expectation.expectation_type", (), "engine: kinds of expectation"),
    ("great_expectations.expectations.expectation", "Expectation.configuration", (), "engine, stream: an expectation's kwargs"),
    ("great_expectations.expectations.metrics.map_metric_provider", "ColumnMapMetricProvider", (), "expectations: custom metrics"),
    ("great_expectations.expectations.metrics.map_metric_provider", "ColumnPairMapMetricProvider", (), "expectations: custom metrics"),
    ("great_expectations.expectations.metrics.map_metric_provider", "MulticolumnMapMetricProvider", (), "expectations: custom metrics"),
    ("great_expectations.expectations.metrics.map_metric_provider", "column_condition_partial", ("engine",), "expectations: custom metrics"),
    ("great_expectations.expectations.metrics.map_metric_provider", "column_pair_condition_partial", ("engine",), "expectations: custom metrics"),
    ("great_expectations.expectations.metrics.map_metric_provider", "multicolumn_condition_partial", ("engine",), "expectations: custom metrics"),
    ("great_expectations.execution_engine", "PandasExecutionEngine", (), "expectations: the engine of the custom metrics"),
    ("great_expectations.constants", "MAX_RESULT_RECORDS", (), "stream.ResultTotals: how many unexpected values one run lists"),
    ("great_expectations.data_context.types.resource_identifiers", "ExpectationSuiteIdentifier", ("name",),
     "docs.store_result: the key a result is stored under in the Data Docs site"),
    ("great_expectations.util", "convert_to_json_serializable", ("data",), "engine: an expectation's kwargs as JSON; docs, tests"),
    ("great_expectations.execution_engine", "pandas_execution_engine.HASH_THRESHOLD", (),
     "engine._no_fingerprints: a pandas batch of at least this many bytes is not fingerprinted (the fast path drops the marker)"),
    # Mirrored behaviour (re-check the mirror when one of these changes):
    ("great_expectations.validator.validator", "Validator.process_expectations_for_validation", ("expectation_configurations",),
     "engine._gx_order mirrors the order GX reports a suite's results in"),
    ("great_expectations.expectations.expectation", "_format_map_output", ("result_format", "success", "element_count"),
     "stream.ResultTotals mirrors how GX derives a map result's counts and percentages"),
    ("great_expectations.expectations.expectation", "_mostly_success", ("rows_considered_cnt", "unexpected_cnt", "mostly"),
     "stream.ResultTotals mirrors GX's success with ``mostly``"),
    ("great_expectations.core.expectation_suite", "ExpectationSuite._expectations_are_equalish", ("expectation_a", "expectation_b"),
     "expectations.build_suite mirrors which expectations a suite holds once"),
)


def _env_flag(name: str, default: bool) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name}={value!r}: expected 1/0, true/false, yes/no or on/off")


@dataclass(frozen=True)
class Options:
    """How the engine drives GX (never what it decides).

    ``path``: ``fast`` or ``plain`` (see the module's contract). ``overlap``: on the fast
    path, validate each group as soon as its columns are typed (off: wait for the whole
    typed frame; the benchmark's comparison).
    """

    path: str = "fast"
    overlap: bool = True

    def __post_init__(self):
        if self.path not in PATHS:
            raise ValueError(f"GX path {self.path!r}: expected one of {', '.join(PATHS)} ({PATH_ENV})")

    @classmethod
    def from_env(cls) -> Options:
        """``SAFETY_HUB_GX_PATH`` (``fast``/``plain``, default fast), ``SAFETY_HUB_GX_OVERLAP`` (default on), read now."""
        return cls(path=os.environ.get(PATH_ENV, "").strip().lower() or "fast", overlap=_env_flag(OVERLAP_ENV, True))


@dataclass
class Engine:
    """An ephemeral GX context (our expectations registered) and its pandas batch definitions."""

    options: Options = field(default_factory=Options.from_env)

    def __post_init__(self):
        self._context = None
        self._definitions: dict[str, object] = {}
        # Each group's suite, kept for the next batches: GX deep-copies the whole suite to copy one
        # expectation, ~20 ms per group and batch.
        self._parts: dict[tuple, object] = {}

    @property
    def context(self):
        if self._context is None:
            from safety_hub.quality.gxcontext import get_context

            self._context = get_context()
        return self._context

    def batch_definition(self, source: str):
        """The whole-dataframe batch definition of the pandas data source ``source`` (asset ``records``)."""
        if source not in self._definitions:
            asset = self.context.data_sources.add_pandas(source).add_dataframe_asset("records")
            self._definitions[source] = asset.add_batch_definition_whole_dataframe("whole")
        return self._definitions[source]

    def validate(self, suite, typed, source: str):
        """The suite's result over ``typed`` (a frame, or ``TypedColumns`` being typed); see the contract."""
        definition = self.batch_definition(source)
        if self.options.path == "plain":
            frame = typed.frame() if isinstance(typed, TypedColumns) else typed
            return definition.get_batch(batch_parameters={"dataframe": frame}).validate(suite, result_format=RESULT_FORMAT)
        if isinstance(typed, TypedColumns) and not self.options.overlap:
            typed = typed.frame()
        from safety_hub.domain.uscc import uscc_masks_shared

        # a uscc column's two rules (valid_uscc, pilot_era) share one pass; GX does not fingerprint the group frames
        with uscc_masks_shared(), _no_fingerprints():
            return _validate_groups(definition, _Suite(suite), typed if isinstance(typed, TypedColumns) else _Typed(typed), self._parts)


def suite_result(results: list, suite_name: str, meta: dict, batch_id):
    """The suite's ``ExpectationSuiteValidationResult`` from its expectations' results, with the statistics GX computes."""
    from great_expectations.core import ExpectationSuiteValidationResult

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


# --- the fast path ----------------------------------------------------------------------------

_COLUMN_KWARGS = ("column", "column_A", "column_B", "column_list")
_BETWEEN = "expect_column_values_to_be_between"
_NOT_NULL = "expect_column_values_to_not_be_null"
_NULL_CHECKS = (_NOT_NULL, "expect_column_values_to_be_null")
_EQUALITY = ("==", "!=")
_MEMBERSHIP = ("IN", "NOT_IN")
_SPARSE = 0.9  # share of missing values from which a column counts as sparse (cheap to filter)
_JOIN_COLUMNS = 3  # overlapping groups are joined up to this many columns
_TEXT_TYPES = ("str", "code", "uscc", "org_name", "district", "enum")


_fingerprints_lock = threading.Lock()
_fingerprints_off = 0


@contextlib.contextmanager
def _no_fingerprints():
    """GX does not fingerprint the frames it loads meanwhile (on the fast path).

    ``PandasExecutionEngine`` hashes every frame it loads (``hash_pandas_object`` of every
    row, for the ``pandas_data_fingerprint`` batch marker) when the frame holds fewer than
    ``HASH_THRESHOLD`` bytes: ~0.15 s of CPU per 200,000 rows over the groups' frames. The
    fast path's frames are its own cuts of the batch and it drops their marker from the
    result (``_validate_groups``), so the hash decides and shows nothing: the threshold is
    set to 0 while a fast-path validation runs (the plain path, the reference, keeps it).
    """
    from great_expectations.execution_engine import pandas_execution_engine as gx_pandas

    global _fingerprints_off, _threshold
    with _fingerprints_lock:
        if _fingerprints_off == 0:
            _threshold = gx_pandas.HASH_THRESHOLD
            gx_pandas.HASH_THRESHOLD = 0
        _fingerprints_off += 1
    try:
        yield
    finally:
        with _fingerprints_lock:
            _fingerprints_off -= 1
            if _fingerprints_off == 0:
                gx_pandas.HASH_THRESHOLD = _threshold


_threshold = None


class _Suite:
    """A suite's expectations with their kwargs as JSON and their types, read once
    (GX builds an expectation's configuration anew on every access)."""

    def __init__(self, suite):
        from great_expectations.expectations.expectation import ColumnMapExpectation

        self.suite = suite
        self.expectations = list(suite.expectations)
        configurations = [e.configuration.to_json_dict() for e in self.expectations]
        self.kwargs = [c.get("kwargs") or {} for c in configurations]
        # What the suite holds (types, arguments, meta), as one text: equal suites share their group suites.
        self.key = (suite.name, json.dumps(configurations, sort_keys=True, ensure_ascii=False, default=str))
        self.types = [e.expectation_type for e in self.expectations]
        self.column_map = [isinstance(e, ColumnMapExpectation) for e in self.expectations]
        self.rule_ids = [(e.meta or {}).get("rule_id") for e in self.expectations]

    def __len__(self) -> int:
        return len(self.expectations)


def _expectation_columns(kwargs: dict, known: set[str], *, besides_column: bool = False) -> set[str] | None:
    """The columns of ``known`` an expectation names (its column(s), row condition...).

    None when it must see the whole table: a table expectation, or rows filtered by a
    free-text condition that may name any column. ``besides_column``: leave out its
    ``column`` argument (what else it reads).
    """
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


def _condition_only_in(kwargs: dict, known: set[str], text: set[str]) -> frozenset[str]:
    """Text columns an expectation reads only in its row condition, compared there only for
    (in)equality, membership or missing values: GX may filter on them as ``category``.

    GX applies a row condition with ``DataFrame.query`` on each metric of the expectation
    (five times or so). On a categorical column the comparison is one on small integer
    codes, and the filtered frame copies codes, not strings; the rows selected are the
    same (``==``/``in`` are ``isin`` either way, missing values match neither).
    """
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


def _ranged(s: _Suite, i: int, ns_columns: set[str]) -> str | None:
    """The column expectation ``i``, a range check, is run on as ``datetime64[ns]``, else None."""
    name = s.kwargs[i].get("column")
    return name if s.types[i] == _BETWEEN and name in ns_columns else None


def _expectation_groups(s: _Suite, columns: list[str], ns_columns: set[str], sparse: set[str] = frozenset(),
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
    wanted = [_expectation_columns(kw, known) for kw in s.kwargs]
    ranged = [(_ranged(s, i, ns_columns) is not None, categorical[i] if categorical else frozenset()) for i in range(len(s))]
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
        if cols and not flag[1] and (cols <= sparse or all(_filters_unexpected_only(s, i, complete) for i in members)):
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


def _nullness_check(s: _Suite, i: int) -> bool:
    """A (not) null check of one column, on every row (no row condition)."""
    kwargs = s.kwargs[i]
    return s.types[i] in _NULL_CHECKS and isinstance(kwargs.get("column"), str) and not kwargs.get("row_condition")


def _filters_unexpected_only(s: _Suite, i: int, complete: set[str]) -> bool:
    """A check of one column on every row that filters its frame only at its unexpected rows:
    a (not) null check, or a column map check of a column without missing values."""
    if _nullness_check(s, i):
        return True
    kwargs = s.kwargs[i]
    return (s.column_map[i] and kwargs.get("column") in complete
            and not kwargs.get("row_condition") and not any(k in kwargs for k in _COLUMN_KWARGS if k != "column"))


def _gx_order(s: _Suite) -> list[int]:
    """The order GX reports a suite's results in: grouped by ``column`` in order of first
    appearance, expectations without one where the first of them is
    (``Validator.process_expectations_for_validation``)."""
    order: dict[object, list[int]] = {}
    for i, kwargs in enumerate(s.kwargs):
        column = kwargs.get("column")
        order.setdefault(column if isinstance(column, str) else None, []).append(i)
    return [i for members in order.values() for i in members]


def _nullness_only(s: _Suite, members: list[int], columns: list[str]) -> list[str]:
    """Columns of a group its expectations only check for missing values.

    ``expect_column_values_to_not_be_null`` reads whether each value is missing and
    reports the missing ones (all NA); nothing else in the group reads the column.
    """
    known = set(columns)
    out = []
    for c in columns:
        only = True
        for i in members:
            kwargs = s.kwargs[i]
            if s.types[i] == _NOT_NULL and kwargs.get("column") == c:
                others = _expectation_columns(kwargs, known, besides_column=True)
                only = others is not None and c not in others
            else:
                refs = _expectation_columns(kwargs, known)
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


class _Typed:
    """A typed frame with TypedColumns' interface (every column ready)."""

    def __init__(self, frame: pd.DataFrame):
        self._df = frame
        self.names = list(frame.columns)

    def column(self, name: str) -> pd.Series:
        return self._df[name]

    def frame(self) -> pd.DataFrame:
        return self._df


def _plan_facts(typed, s: _Suite) -> tuple[set[str], set[str], set[str], list[frozenset[str]]]:
    """What grouping needs to know of the columns: (range-checked dates to give as ns, sparse
    columns, complete columns, categorical condition columns per expectation).

    From the data when the frame is there; from the agency columns and the registry types
    while it is being typed (a fact that turns out wrong costs time, never a result: each
    group's frame is built from the real columns, see ``_GroupFrames.build``).
    """
    if isinstance(typed, _Typed):
        frame = typed.frame()
        ranged = {c for c in _between_columns(s) if c in frame.columns and isinstance(frame[c].dtype, np.dtype)
                  and frame[c].dtype.kind == "M" and frame[c].dtype != np.dtype("datetime64[ns]")}
        sparse = {c for c in frame.columns if _missing_share(frame[c]) >= _SPARSE}
        complete = {c for c in frame.columns if _missing_share(frame[c]) == 0}
        text = {c for c in frame.columns if _is_arrow_text(frame[c])}
    else:
        kinds = {c: typed.column_type(c) for c in typed.names}
        raws = {c: typed.raw(c) for c in typed.names}
        ranged = {c for c in _between_columns(s) if kinds.get(c) == "date"}
        text = {c for c, kind in kinds.items() if kind in _TEXT_TYPES}
        # A typed column misses at least the values its agency column misses; text types miss nothing more but blanks.
        shares = {c: (raw.isna().mean() if len(raw) else 0.0) for c, raw in raws.items() if raw is not None}
        sparse = {c for c, share in shares.items() if share >= _SPARSE} | {c for c in typed.names if c.startswith(UNPARSED)}
        complete = {c for c, share in shares.items() if share == 0 and c in text and not c.startswith(UNPARSED)}
    known = set(typed.names)
    condition_only = [_condition_only_in(kw, known, text) for kw in s.kwargs]
    return ranged, sparse, complete, condition_only


def _between_columns(s: _Suite) -> set[str]:
    return {name for t, kw in zip(s.types, s.kwargs) if t == _BETWEEN and isinstance(name := kw.get("column"), str)}


class _GroupFrames:
    """Builds each group's frame from the real typed columns (casts and replacements made once per column)."""

    def __init__(self, typed, s: _Suite):
        self.typed, self.s = typed, s
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
        for c in {c for c in (_ranged(self.s, i, ranged) for i in members) if c is not None}:
            if (ns := self.ns(c)) is not None:
                replace[c] = ns
        for c in _nullness_only(self.s, members, columns):
            if (m := _missing_marks(data[c])) is not None:
                replace[c] = m
        for c in {c for i in members for c in condition_only[i]}:
            if (cat := self.category(c)) is not None:
                replace[c] = cat
        for c in sorted(replace):
            data[c] = replace[c]
        return data


def _matched(s: _Suite, members: list[int], results: list) -> list[tuple[int, object]]:
    """Each result of a group's suite with its expectation's position in the whole suite: by
    ``meta.rule_id``, and among expectations sharing one, by configuration."""
    by_rule: dict[object, list[int]] = {}
    for i in members:
        by_rule.setdefault(s.rule_ids[i], []).append(i)
    out = []
    for r in results:
        candidates = by_rule.get((r.expectation_config.meta or {}).get("rule_id"), [])
        if len(candidates) > 1:
            candidates = [i for i in candidates if s.expectations[i].configuration == r.expectation_config] or candidates
        if not candidates:
            raise RuntimeError(f"suite {s.suite.name}: GX returned a result for an expectation it was not given: {r.expectation_config}")
        i = candidates[0]
        by_rule[s.rule_ids[i]].remove(i)
        out.append((i, r))
    return out


def _validate_groups(definition, s: _Suite, typed, parts: dict | None = None):
    """One ``batch.validate`` of a suite of each group's expectations on the group's frame, the
    results put back in the whole suite's order (see the module's contract)."""
    from great_expectations.core import ExpectationSuite

    ranged, sparse, complete, condition_only = _plan_facts(typed, s)
    groups = _expectation_groups(s, list(typed.names), ranged, sparse, condition_only, complete)
    if isinstance(typed, TypedColumns):  # the groups whose columns are typed first go first; whole-frame ones last
        groups.sort(key=lambda g: (g[0] is None, max((typed.rank(c) for c in g[0] or ()), default=0)))
    frames = _GroupFrames(typed, s)

    def load(columns, members):
        return definition.get_batch(batch_parameters={"dataframe": frames.build(columns, members, ranged, condition_only)})

    results: list = [None] * len(s)
    meta: dict | None = None
    batch_id = None
    # The next group's frame is built and its batch loaded in a helper thread while this one
    # validates the current group.
    with ThreadPoolExecutor(max_workers=1) as helper:
        loading = helper.submit(load, *groups[0]) if groups else None
        for n, (columns, members) in enumerate(groups):
            batch = loading.result()
            loading = helper.submit(load, *groups[n + 1]) if n + 1 < len(groups) else None
            key = (s.key, tuple(members))
            part = None if parts is None else parts.get(key)
            if part is None:
                part = ExpectationSuite(name=s.suite.name, expectations=[copy.copy(s.expectations[i]) for i in members])
                if parts is not None:
                    parts[key] = part
            got = batch.validate(part, result_format=RESULT_FORMAT)
            for i, r in _matched(s, members, got.results):
                results[i] = r
            if meta is None:  # the first group's batch describes the suite's (without the fingerprint of its own frame)
                meta = dict(got.meta)
                markers = dict(meta.get("batch_markers") or {})
                markers.pop("pandas_data_fingerprint", None)
                meta["batch_markers"] = markers
                batch_id = got.batch_id
    order = _gx_order(s)
    failed = {i for i in order if _raised(results[i])}
    ordered = [results[i] for i in order if i in failed] + [results[i] for i in order if i not in failed]
    return suite_result(ordered, s.suite.name, meta or {}, batch_id)
