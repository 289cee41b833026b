"""The whole-file reference the streamed validation is held to: what ``pipeline.run_validate`` staged
before it validated batch by batch (the whole ``records.parquet`` in memory, one ``check_batch``),
and how the two stagings are compared."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd

STAGED = ("valid", "quarantine", "quality_flag", "validation_result", "snapshot_member")
_TIMES = {"quarantine": "quarantined_at", "quality_flag": "quarantined_at", "validation_result": "validated_at"}


def whole_file_stage(feed, part: Path, day: dt.date, batch_id: str, stage: Path):
    """Stage ``part`` as one batch: the frames ``run_validate`` wrote, written the way it wrote them."""
    from safety_hub.ingest.landing import read_records
    from safety_hub.quality.expectations import rule_descriptions
    from safety_hub.quality.validate import check_batch, quarantine_frame
    from safety_hub.config.settings import STAGE_BATCH_ROWS

    records, rows, rejects = read_records(part)
    check = check_batch(feed, records, day).add_landing_rejects(rejects)
    descriptions = rule_descriptions(feed)
    kw = dict(batch_id=batch_id, business_date=day, raw_file=str(part), key=feed.key, descriptions=descriptions, rows=rows)
    quarantine = quarantine_frame(check, records, **kw)
    flags = quarantine_frame(check, records, warnings=True, **kw)
    now = dt.datetime.now(dt.timezone.utc)
    results = pd.DataFrame([{**r, "feed_id": feed.feed_id, "batch_id": batch_id, "business_date": day, "validated_at": now} for r in check.rule_results])
    stage.mkdir(parents=True, exist_ok=True)
    check.valid_rows().to_parquet(stage / "valid.parquet", index=False, row_group_size=STAGE_BATCH_ROWS)
    quality = {"quarantine": quarantine, "quality_flag": flags, "validation_result": results}
    if feed.mode == "snapshot":
        keys = check.typed[feed.key[0]].dropna().astype(str).unique()
        quality["snapshot_member"] = pd.DataFrame({"feed_id": feed.feed_id, "business_date": day, "record_key": keys})
    for name, frame in quality.items():
        frame.to_parquet(stage / f"{name}.parquet", index=False)
    return check


def read_stage(stage: Path) -> dict[str, pd.DataFrame]:
    """The staged files, read back as the load reads them, time stamps left out."""
    out = {}
    for name in STAGED:
        path = stage / f"{name}.parquet"
        if path.exists():
            frame = pd.read_parquet(path)
            out[name] = frame.drop(columns=[_TIMES[name]]) if _TIMES.get(name) in frame.columns else frame
    return out


def assert_same_stage(got: dict[str, pd.DataFrame], want: dict[str, pd.DataFrame], feed) -> None:
    """Every staged file holds the same rows, every column, in the same order.

    ``valid.parquet``'s decimal and datetime columns are staged with one dtype whatever the
    values of a batch (``stream.valid_dtypes``): the reference's are given it before comparing.
    A column Arrow typed ``null`` in the reference (no value anywhere) may be typed text
    in the streamed file (its writer settles a schema on its first batch): same missing values.
    """
    from safety_hub.quality.stream import valid_dtypes

    assert sorted(got) == sorted(want)
    for name in want:
        g, w = got[name], want[name]
        if name == "valid":
            w = w.astype({c: t for c, t in valid_dtypes(feed).items() if c in w.columns})
        assert list(g.columns) == list(w.columns), name
        assert len(g) == len(w), (name, len(g), len(w))
        for c in w.columns:
            if w[c].isna().all() and g[c].isna().all():
                continue
            pd.testing.assert_series_equal(g[c], w[c], check_exact=True, obj=f"{name}.{c}")


def comparable_summary(result) -> list[tuple]:
    """A suite result's per-expectation summary (complete lists left out): what the combined result must equal."""
    from great_expectations.util import convert_to_json_serializable

    out = []
    for r in result.results:
        body = convert_to_json_serializable(dict(r.result or {}))
        for key in ("unexpected_list", "unexpected_index_list", "unexpected_index_query"):
            body.pop(key, None)
        out.append((r.expectation_config.meta["rule_id"], bool(r.success), json.dumps(body, sort_keys=True, ensure_ascii=False, default=str)))
    return out
