"""Validate a landed delivery batch by batch, in bounded memory, with the decisions of one run over all of it.

``validate_delivery`` reads the partition's ``records.parquet`` in record batches of
``settings.validate_batch_rows()`` rows and runs ``validate.check_batch`` (normalise +
the feed's GX suite) on each. Per batch, its valid rows are appended to
``valid.parquet`` and its quarantined and flagged rows (physical row numbers from
``__row__``) to ``quarantine.parquet`` and ``quality_flag.parquet``, each with a
``pyarrow.parquet.ParquetWriter``; then the rows refused at landing are added once.
The files are written under temporary names and put in place together at the end, so a
failure leaves the previous staging as it was.

What a batch cannot decide alone is decided over the whole delivery:

* rules across rows: ``expect_multicolumn_values_to_be_consistent_per_key`` is answered
  from a first pass over its columns only (``quality.crossrow``); a suite holding any
  other expectation that is not a row-by-row map expectation (uniqueness, ordering,
  outliers, aggregates, row counts) is validated in one batch, as before;
* rule counts are summed; each rule's ``validation_result`` row and the GX result kept
  for Data Docs are combined from the batches' results (``ResultTotals``) into what one
  run over the delivery reports: counts and percentages of the whole delivery, success
  from those totals (``mostly`` included), the first unexpected values and row positions
  of the delivery and its most common unexpected values. The complete lists of
  unexpected values and rows are not kept (they grow with the delivery; the quarantine
  holds every row);
* the threshold (``max_invalid_share``) is decided by the caller (``pipeline.run_validate``)
  on the delivery's totals, after every batch.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from safety_hub.config.files import temporary_name
from safety_hub.config.registry import Feed

log = logging.getLogger(__name__)

# Map metrics whose answer for a row depends on other rows.
_CROSS_ROW_METRICS = frozenset({
    "column_values.unique", "compound_columns.unique", "column_values.increasing", "column_values.decreasing",
    "column_values.z_score.under_threshold", "column_values.not_outliers",
})
CONSISTENT_PER_KEY = "multicolumn_values.consistent_per_key"
STAGED = ("valid", "quarantine", "quality_flag", "validation_result", "snapshot_member", "report_receipt")


@dataclass
class DeliveryCheck:
    """The outcome of validating a whole delivery (every batch, the landing's rejects)."""

    feed_id: str
    rows: int = 0  # records: valid + quarantined (rows refused at landing included)
    quarantined: int = 0
    flagged: int = 0
    batches: int = 0
    rule_counts: dict[str, int] = field(default_factory=dict)
    rule_results: list[dict] = field(default_factory=list)
    suite: object = None
    gx_result: object = None  # combined over the batches (ResultTotals)

    @property
    def valid(self) -> int:
        return self.rows - self.quarantined

    @property
    def invalid_share(self) -> float:
        return self.quarantined / self.rows if self.rows else 0.0


@dataclass
class Plan:
    """How a suite can be split into batches."""

    key_rules: list[tuple[list[str], int]]  # consistent-per-key rules: (column list, key columns)
    whole: list[str]  # rule ids that must see the whole delivery in one batch (none: batches are fine)


def plan(suite) -> Plan:
    """Which of the suite's expectations look across rows, and how each is kept whole."""
    from great_expectations.expectations.expectation import ColumnMapExpectation, ColumnPairMapExpectation, MulticolumnMapExpectation

    key_rules: list[tuple[list[str], int]] = []
    whole: list[str] = []
    for e in suite.expectations:
        rule_id = (e.meta or {}).get("rule_id", e.expectation_type)
        kwargs = e.configuration.kwargs
        if not isinstance(e, (ColumnMapExpectation, ColumnPairMapExpectation, MulticolumnMapExpectation)):
            whole.append(rule_id)
        elif e.map_metric == CONSISTENT_PER_KEY:
            if kwargs.get("row_condition"):
                whole.append(rule_id)
            else:
                key_rules.append(([str(c) for c in kwargs["column_list"]], int(kwargs.get("key_columns", 1))))
        elif e.map_metric in _CROSS_ROW_METRICS:
            whole.append(rule_id)
    return Plan(key_rules, whole)


# --- reading ----------------------------------------------------------------------------------

def record_batches(path: Path, batch_rows: int | None, columns: list[str] | None = None) -> Iterator[pd.DataFrame]:
    """``records.parquet`` as frames of at most ``batch_rows`` rows (None: one frame), as ``read_records`` types them.

    An empty file gives one empty frame.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from safety_hub.ingest.parquetfiles import iter_batches

    pf = pq.ParquetFile(path)
    schema = pf.schema_arrow
    if columns is not None:
        columns = [c for c in columns if c in schema.names]
        schema = pa.schema([schema.field(c) for c in columns], metadata=schema.metadata)
    total = pf.metadata.num_rows
    if batch_rows is None or total == 0:
        yield pf.read(columns=columns).to_pandas()
        return
    # Read in small chunks, handed out batch_rows at a time (chunked columns, no copy): reading a
    # whole batch at once holds about three times its size in decoding buffers.
    pending: list = []
    held = 0
    for chunk in iter_batches(path, min(batch_rows, _READ_ROWS), columns):
        pending.append(chunk)
        held += chunk.num_rows
        while held >= batch_rows:
            table = pa.Table.from_batches(pending, schema=schema)
            yield table.slice(0, batch_rows).to_pandas()
            rest = table.slice(batch_rows)
            pending, held = rest.to_batches(), rest.num_rows
            del table, rest
    if held:
        yield pa.Table.from_batches(pending, schema=schema).to_pandas()


_READ_ROWS = 65_536


# --- the first pass: rules across rows --------------------------------------------------------

def _feed_for(feed: Feed, names: set[str]) -> Feed:
    """The feed with only what types ``names`` (their columns, derived columns and the columns those derive from)."""
    from safety_hub.quality.normalise import UNPARSED

    derived = [d for d in feed.derived if d.name in names]
    needed = set(names) | {a for d in derived for a in d.args}
    columns = [c for c in feed.columns if c.name in needed or UNPARSED + c.name in needed]
    return feed.model_copy(update={"columns": columns, "derived": derived})


def key_pass(feed: Feed, path: Path, rules: list[tuple[list[str], int]], batch_rows: int | None) -> list:
    """Each consistent-per-key rule's conflicting keys over the whole delivery (its columns only, typed)."""
    from safety_hub.quality.crossrow import KeyConflicts
    from safety_hub.quality.normalise import TypedColumns

    conflicts = [KeyConflicts(columns, key_columns) for columns, key_columns in rules]
    names = {c for columns, _ in rules for c in columns}
    sub = _feed_for(feed, names)
    sources = [c.source for c in sub.columns]
    for frame in record_batches(path, batch_rows, columns=sources):
        with TypedColumns(sub, frame.reset_index(drop=True)) as typed:
            t = typed.frame()
            for rule in conflicts:
                rule.add(t[rule.columns])
        del frame, t
    for rule in conflicts:
        rule.finish()
        log.info("feed %s: rule over %s: %d key(s) with more than one set of values in the delivery", feed.feed_id, rule.columns, rule.conflicts)
    return conflicts


# --- the GX results of the batches, as one -----------------------------------------------------

_PARTIAL = 20  # GX's partial_unexpected_count (the default of every result format)


class _Totals:
    def __init__(self, result):
        self.first = result
        self.element = self.missing = self.unexpected = 0
        self.has_missing = False
        self.counted = False  # a map result (counts), else passed through from one batch
        self.values: list = []  # the delivery's first unexpected values, as many as GX lists for one batch
        self.indexes: list = []
        self.lists = True  # every batch listed its unexpected values (COMPLETE)


class ResultTotals:
    """Per expectation, the sums of the batches' results; ``result()`` is what one run over the delivery reports.

    The batches' suite results list their expectations in the same order (the suite's,
    as ``engine.Engine.validate`` orders them). For a map expectation (every one a batch can
    be validated with): element, missing and unexpected counts are summed and the
    percentages and success derived from the sums as GX derives them
    (``_format_map_output``, ``_mostly_success``); the unexpected values GX lists are
    the first ``MAX_RESULT_RECORDS`` (200) of the delivery, so the partial list (the
    first 20) and ``partial_unexpected_counts`` (the most common among those 200, ties
    in order of first appearance) are those of one run; row positions are offset by the
    batch's first row.
    """

    def __init__(self):
        self._totals: list[_Totals] | None = None
        self.batches = 0
        self.rows = 0
        self._meta: dict | None = None

    def add(self, result, offset: int, rows: int) -> None:
        from great_expectations.constants import MAX_RESULT_RECORDS

        if self._totals is None:
            self._totals = [_Totals(r) for r in result.results]
            self._meta, self._suite_name, self._batch_id = dict(result.meta or {}), result.suite_name, result.batch_id
        elif [t.first.expectation_config.meta.get("rule_id") for t in self._totals] != [r.expectation_config.meta.get("rule_id") for r in result.results]:
            raise RuntimeError("validation batches reported their expectations in different orders")
        self.batches += 1
        self.rows += rows
        for t, r in zip(self._totals, result.results):
            body = r.result or {}
            if "unexpected_count" not in body:
                if self.batches > 1:
                    raise RuntimeError(f"rule {r.expectation_config.meta.get('rule_id')}: a result without counts cannot be combined over batches")
                continue
            t.counted = True
            t.element += int(body.get("element_count") or 0)
            t.unexpected += int(body.get("unexpected_count") or 0)
            if "missing_count" in body:
                t.has_missing = True
                t.missing += int(body.get("missing_count") or 0)
            values = body.get("unexpected_list")
            if values is None:
                t.lists = False
                values = body.get("partial_unexpected_list") or []
            if len(t.values) < MAX_RESULT_RECORDS:
                t.values.extend(values[: MAX_RESULT_RECORDS - len(t.values)])
            indexes = body.get("unexpected_index_list", body.get("partial_unexpected_index_list")) or []
            if len(t.indexes) < _PARTIAL:
                t.indexes.extend(i + offset if isinstance(i, int) else i for i in indexes[: _PARTIAL - len(t.indexes)])

    def result(self):
        """One ``ExpectationSuiteValidationResult`` for the delivery."""
        from great_expectations.core import ExpectationValidationResult

        from safety_hub.quality.engine import suite_result

        results = []
        for t in self._totals or []:
            first = t.first
            if not t.counted:
                results.append(first)
                continue
            body, success = self._body(t, first)
            results.append(ExpectationValidationResult(success=success, expectation_config=first.expectation_config, result=body,
                                                       meta=first.meta, exception_info=first.exception_info))
        return suite_result(results, self._suite_name, {**(self._meta or {}), "safety_hub_batches": self.batches, "safety_hub_rows": self.rows},
                            self._batch_id)

    @staticmethod
    def _body(t: _Totals, first) -> tuple[dict, bool]:
        element, unexpected = t.element, t.unexpected
        # A map expectation reports its missing rows (its ratio is over the others); a (not) null
        # check does not (its ratio is over every row).
        nonnull = element - t.missing if t.has_missing else None
        considered = nonnull if nonnull is not None else element
        if element == 0 or considered == 0:
            success = True  # vacuously true, as GX says
        else:
            mostly = first.expectation_config.kwargs.get("mostly", 1)
            success = (float(considered) - float(unexpected)) / float(considered) >= mostly
        missing_percent = percent_total = percent_nonmissing = None
        if element > 0:
            percent_total = unexpected / element * 100
            if nonnull is not None:
                missing_percent = t.missing / element * 100
                percent_nonmissing = unexpected / nonnull * 100 if nonnull > 0 else None
            else:
                percent_nonmissing = percent_total
        body = {"element_count": element, "unexpected_count": unexpected, "unexpected_percent": percent_nonmissing,
                "partial_unexpected_list": t.values[:_PARTIAL]}
        if nonnull is not None:
            body.update(missing_count=t.missing, missing_percent=missing_percent, unexpected_percent_total=percent_total,
                        unexpected_percent_nonmissing=percent_nonmissing)
        if t.lists:
            listed = [tuple(v.values()) if isinstance(v, dict) else v for v in t.values]
            try:
                body["partial_unexpected_counts"] = [{"value": k, "count": n} for k, n in
                                                     sorted(Counter(listed).most_common(_PARTIAL), key=lambda x: (-x[1], x[0]))]
            except TypeError:  # values that cannot be counted or ordered: GX leaves the counts out
                pass
        elif "partial_unexpected_counts" in (first.result or {}):
            body["partial_unexpected_counts"] = first.result["partial_unexpected_counts"]
        body["partial_unexpected_index_list"] = list(t.indexes)
        return body, bool(success)


# --- writing ----------------------------------------------------------------------------------

def valid_dtypes(feed: Feed) -> dict[str, str]:
    """The typed columns whose pandas dtype depends on a batch's values, and the one they are staged with.

    A ``decimal`` column is ``Int64`` when every value of its batch is whole, else
    ``Float64``; a ``datetime`` column's unit follows its values (``s`` when all are
    missing, ``ns`` for nanoseconds). Staged batch by batch, every batch must have the
    file's types: ``Float64`` and microseconds in UTC (the warehouse's precision).
    """
    out = {c.name: "Float64" for c in feed.columns if c.type == "decimal"}
    out.update({d.name: "Float64" for d in feed.derived if d.type == "decimal"})
    out.update({c.name: "datetime64[us, UTC]" for c in feed.columns if c.type == "datetime"})
    return out


class _Sink:
    """One staged parquet file, appended batch by batch under a temporary name (``commit`` puts it in place).

    Frames are first given ``dtypes`` (``valid_dtypes``). The file's schema is the first
    non-empty frame's, a column without any value there (Arrow ``null``: an all-missing
    object column) typed as text; later frames are cast to it. Nothing written: ``finish``
    writes the ``empty`` frame as pandas would.
    """

    def __init__(self, path: Path, row_group_size: int | None = None, dtypes: dict[str, str] | None = None):
        self.path = path
        self.tmp = temporary_name(path)
        self.row_group_size = row_group_size
        self.dtypes = dtypes or {}
        self.rows = 0
        self._writer = None
        self._schema = None

    def _fixed(self, frame: pd.DataFrame) -> pd.DataFrame:
        change = {c: t for c, t in self.dtypes.items() if c in frame.columns and str(frame[c].dtype) != t}
        return frame.astype(change) if change else frame

    def write(self, frame: pd.DataFrame) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not len(frame):
            return
        table = pa.Table.from_pandas(self._fixed(frame), preserve_index=False)
        if self._writer is None:
            fields = [pa.field(f.name, pa.string()) if pa.types.is_null(f.type) else f for f in table.schema]
            self._schema = pa.schema(fields, metadata=table.schema.metadata)
            self._writer = pq.ParquetWriter(self.tmp, self._schema)
        if not table.schema.equals(self._schema, check_metadata=False):
            table = table.cast(self._schema)
        self._writer.write_table(table.replace_schema_metadata(self._schema.metadata), row_group_size=self.row_group_size)
        self.rows += len(frame)

    def finish(self, empty: pd.DataFrame) -> None:
        if self._writer is None:
            self._fixed(empty).to_parquet(self.tmp, index=False)
        else:
            self._writer.close()
            self._writer = None

    def commit(self) -> None:
        self.tmp.replace(self.path)

    def discard(self) -> None:
        if self._writer is not None:
            try:
                self._writer.close()
            except Exception:  # noqa: BLE001 - cleaning up after the error being raised
                pass
        self.tmp.unlink(missing_ok=True)


# --- the delivery -----------------------------------------------------------------------------

@contextlib.contextmanager
def _older_objects_frozen():
    """The objects that exist now (GX's, pandas', the suite's: ~300,000) left out of garbage collection meanwhile.

    Each batch allocates many containers (GX results, the decisions), so the interpreter
    runs full collections during the loop, each walking every object of the process
    (0.2-0.3 s each at 200,000-row batches) though the older ones are not garbage. They
    are handed back (``gc.unfreeze``) at the end; a caller's own freeze is left alone.
    """
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def validate_delivery(feed: Feed, part: Path, day: dt.date, *, batch_id: str, stage: Path,
                      batch_rows: int | None = None) -> DeliveryCheck:
    """Validate the landed partition ``part`` batch by batch and stage its valid rows and quality records in ``stage``.

    Writes ``valid.parquet``, ``quarantine.parquet``, ``quality_flag.parquet``,
    ``validation_result.parquet``, for a snapshot feed ``snapshot_member.parquet`` and, for a feed
    with expected reporters, ``report_receipt.parquet`` (``quality/receipts.py``)
    (the same rows one whole-delivery run writes); returns the totals.
    """
    from safety_hub.config import settings
    from safety_hub.ingest.landing import RECORDS, REJECTS, ROW
    from safety_hub.ingest.landing.accounting import rejects_frame
    from safety_hub.quality.crossrow import delivery_scope
    from safety_hub.quality.engine import Engine
    from safety_hub.quality.expectations import build_suite, rule_descriptions
    from safety_hub.quality.receipts import Receipts
    from safety_hub.quality.validate import check_batch, landing_quarantine, quarantine_frame, rule_result
    from safety_hub.config.settings import STAGE_BATCH_ROWS

    batch_rows = batch_rows or settings.validate_batch_rows()
    engine = Engine()  # one GX context for the delivery's batches
    suite = build_suite(feed, day)
    how = plan(suite)
    if how.whole:
        log.warning("feed %s: rule(s) %s look across rows: the delivery is validated in one batch", feed.feed_id, how.whole)
        batch_rows = None
    records = part / RECORDS
    conflicts = key_pass(feed, records, how.key_rules, batch_rows) if how.key_rules else []
    descriptions = rule_descriptions(feed)
    raw_file = str(part)
    stage.mkdir(parents=True, exist_ok=True)
    sinks = {"valid": _Sink(stage / "valid.parquet", STAGE_BATCH_ROWS, valid_dtypes(feed)),
             "quarantine": _Sink(stage / "quarantine.parquet"), "quality_flag": _Sink(stage / "quality_flag.parquet")}
    out = DeliveryCheck(feed.feed_id)
    totals = ResultTotals()
    typed_rows = 0
    snapshot_keys: dict[str, None] = {}  # every delivered key, in order of first appearance
    receipts = Receipts(feed, day)  # who reported for which period (feeds with expected reporters)
    empty: dict[str, pd.DataFrame] = {}
    try:
        with delivery_scope(conflicts), _older_objects_frozen():
            for frame in record_batches(records, batch_rows):
                rows = frame.pop(ROW).to_numpy(dtype=np.int64) if ROW in frame.columns else np.arange(typed_rows + 1, typed_rows + len(frame) + 1, dtype=np.int64)
                check = check_batch(feed, frame, day, engine=engine)
                kw = dict(batch_id=batch_id, business_date=day, raw_file=raw_file, key=feed.key, descriptions=descriptions, rows=rows)
                for name, warnings in (("quarantine", False), ("quality_flag", True)):
                    rejected = quarantine_frame(check, frame, warnings=warnings, **kw)
                    sinks[name].write(rejected)
                    empty[name] = rejected.iloc[:0]
                valid = check.valid_rows()
                sinks["valid"].write(valid)
                empty["valid"] = valid.iloc[:0]
                receipts.add(check.typed)
                if feed.mode == "snapshot":
                    snapshot_keys.update(dict.fromkeys(check.typed[feed.key[0]].dropna().astype(str).unique()))
                for rule, n in check.rule_counts.items():
                    out.rule_counts[rule] = out.rule_counts.get(rule, 0) + n
                if check.gx_result is not None:
                    totals.add(check.gx_result, typed_rows, check.rows)
                    out.suite = out.suite or check.suite
                out.quarantined += len(check.failures)
                out.flagged += len(check.flags)
                typed_rows += check.rows
                out.batches += 1
                log.info("feed %s %s: batch %d: %d records, %d quarantined, %d flagged", feed.feed_id, day, out.batches,
                         check.rows, len(check.failures), len(check.flags))
                del frame, check, valid, rejected
        rejects = pd.read_parquet(part / REJECTS) if (part / REJECTS).exists() else rejects_frame([])
        out.rows = typed_rows + len(rejects)
        receipts.add_unattributed(len(rejects))
        if len(rejects):
            sinks["quarantine"].write(landing_quarantine(feed.feed_id, rejects, batch_id=batch_id, business_date=day, raw_file=raw_file))
            out.quarantined += len(rejects)
            for rule, n in rejects["rule"].value_counts().items():
                out.rule_counts[rule] = out.rule_counts.get(rule, 0) + int(n)
        if totals.batches:
            out.gx_result = totals.result()
            out.rule_results = [rule_result(feed, r, typed_rows) for r in out.gx_result.results]
        for name, sink in sinks.items():
            sink.finish(empty.get(name, pd.DataFrame()))
        now = dt.datetime.now(dt.timezone.utc)
        small = {"validation_result": pd.DataFrame([{**r, "feed_id": feed.feed_id, "batch_id": batch_id, "business_date": day, "validated_at": now}
                                                    for r in out.rule_results])}
        if feed.mode == "snapshot":
            small["snapshot_member"] = pd.DataFrame({"feed_id": feed.feed_id, "business_date": day, "record_key": list(snapshot_keys)})
        if feed.reporters is not None:
            small["report_receipt"] = receipts.frame(batch_id)
        for name, frame in small.items():
            sink = sinks[name] = _Sink(stage / f"{name}.parquet")
            frame.to_parquet(sink.tmp, index=False)
    except BaseException:
        for sink in sinks.values():
            sink.discard()
        raise
    for name in STAGED:  # the new staging together (a snapshot member file of an earlier run goes)
        if name in sinks:
            sinks[name].commit()
        else:
            (stage / f"{name}.parquet").unlink(missing_ok=True)
    return out
