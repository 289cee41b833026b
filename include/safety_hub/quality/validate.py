"""Run a feed's suite over one batch and split it into valid and quarantined rows."""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass, field

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

        logging.getLogger("great_expectations").setLevel(logging.WARNING)
        _gx_context = gx.get_context(mode="ephemeral")
        _gx_context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return _gx_context


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
    batch = batch_def.get_batch(batch_parameters={"dataframe": typed})
    suite = build_suite(feed, business_date)
    result = batch.validate(suite, result_format={"result_format": "COMPLETE"})
    check.suite, check.gx_result = suite, result
    for r in result.results:
        rule_id = r.expectation_config.meta["rule_id"]
        res = r.result or {}
        if r.exception_info and r.exception_info.get("raised_exception"):
            raise RuntimeError(f"feed {feed.feed_id}: rule {rule_id} could not run: {r.exception_info.get('exception_message')}")
        indexes = res.get("unexpected_index_list") or []
        target = check.flags if feed.validation.severity(rule_id) == "warning" else check.failures
        for idx in indexes:
            row = idx if isinstance(idx, int) else int(next(iter(idx.values())))
            target.setdefault(row, []).append(rule_id)
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


def quarantine_frame(check: BatchCheck, records: pd.DataFrame, *, batch_id: str, business_date: dt.date, raw_file: str, key: list[str],
                     descriptions: dict[str, str], warnings: bool = False) -> pd.DataFrame:
    """One row per (rejected record, broken rule), keeping the original values.

    With ``warnings=True``, the same for flagged (loaded) rows and their warning rules.
    """
    records = records.reset_index(drop=True)
    now = dt.datetime.now(dt.timezone.utc)
    rows = []
    for idx, rules in sorted((check.flags if warnings else check.failures).items()):
        original = {k: (None if pd.isna(v) else str(v)) for k, v in records.iloc[idx].items()}
        record_key = "|".join("" if pd.isna(check.typed.at[idx, k]) else str(check.typed.at[idx, k]) for k in key)
        for rule in rules:
            rows.append({
                "feed_id": check.feed_id,
                "batch_id": batch_id,
                "business_date": business_date,
                "raw_file": raw_file,
                "row_number": idx + 1,
                "record_key": record_key,
                "rule_id": rule,
                "rule_description": descriptions.get(rule, rule),
                "original_values": json.dumps(original, ensure_ascii=False),
                "quarantined_at": now,
            })
    columns = ["feed_id", "batch_id", "business_date", "raw_file", "row_number", "record_key", "rule_id", "rule_description", "original_values", "quarantined_at"]
    return pd.DataFrame(rows, columns=columns)
