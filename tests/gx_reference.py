"""The reference the validation tests compare ``check_batch`` with: one GX run of the whole suite
over the whole typed frame (what ``check_batch`` did before it split the suite into groups)."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd


def whole_frame_validate(feed, records: pd.DataFrame, day: dt.date):
    """One batch of the whole typed frame, one suite run (GX's public API only, a context of its own)."""
    from safety_hub.quality.expectations import build_suite
    from safety_hub.quality.gxcontext import get_context
    from safety_hub.quality.normalise import normalise

    typed = normalise(feed, records.reset_index(drop=True))
    # The data source and asset names the engine uses: GX puts "<data source>-<asset>" in every result.
    source = get_context().data_sources.add_pandas(f"batch_{feed.feed_id}")
    batch = source.add_dataframe_asset("records").add_batch_definition_whole_dataframe("whole").get_batch(batch_parameters={"dataframe": typed})
    return batch.validate(build_suite(feed, day), result_format={"result_format": "COMPLETE"})


def comparable(result) -> tuple:
    """One expectation's result as comparable text: its configuration, success and result body."""
    from great_expectations.util import convert_to_json_serializable

    body = convert_to_json_serializable(dict(result.result or {}))
    body.pop("unexpected_index_query", None)  # not asked for any more (the index list again, as text)
    return (json.dumps(convert_to_json_serializable(result.expectation_config.to_json_dict()), sort_keys=True, ensure_ascii=False),
            bool(result.success), json.dumps(body, sort_keys=True, ensure_ascii=False, default=str))
