"""Custom Great Expectations for the domain codes, and the suite built from a feed.

Importing this module imports GX (seconds): only do it inside tasks.
Each expectation carries ``meta.rule_id`` (``<column>.<check>`` or the
registry rule id), which is what the quarantine records.
"""

from __future__ import annotations

import datetime as dt

import great_expectations as gx
import great_expectations.expectations as gxe
from great_expectations.execution_engine import PandasExecutionEngine
from great_expectations.expectations.expectation import ColumnMapExpectation
from great_expectations.expectations.metrics import ColumnMapMetricProvider, column_condition_partial

from safety_hub.domain import DISTRICTS
from safety_hub.quality.normalise import UNPARSED
from safety_hub.registry import Feed


class ColumnValuesValidUscc(ColumnMapMetricProvider):
    condition_metric_name = "column_values.valid_uscc"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, **kwargs):
        # Vectorised (numpy over the code bytes); same answers as column.map(is_valid_uscc).
        # GX passes the column with nulls already dropped; the mask keeps its index.
        from safety_hub.domain import uscc_valid_mask

        return uscc_valid_mask(column)


class ExpectColumnValuesToBeValidUscc(ColumnMapExpectation):
    """Values are Unified Social Credit Codes with a correct GB 32100 check character."""

    map_metric = "column_values.valid_uscc"
    success_keys = ("mostly",)


def _camel(snake: str) -> str:
    return "".join(part.capitalize() for part in snake.split("_"))


def expectation_class(name: str):
    """``expect_column_values_to_be_valid_uscc`` -> its GX class (built-in or ours)."""
    cls_name = _camel(name)
    cls = globals().get(cls_name) or getattr(gxe, cls_name, None)
    if cls is None:
        raise ValueError(f"unknown expectation '{name}'")
    return cls


def rule_descriptions(feed: Feed) -> dict[str, str]:
    """Human text per rule id, for quarantine reports (Chinese, like the data)."""
    text: dict[str, str] = {}
    for c in feed.columns:
        if c.required:
            text[f"{c.name}.required"] = f"必填字段缺失：{c.source}"
        if c.type in ("date", "datetime", "int", "decimal", "bool"):
            text[f"{c.name}.parseable"] = f"无法解析为{c.type}：{c.source}"
        if c.type == "uscc":
            text[f"{c.name}.valid_uscc"] = f"统一社会信用代码校验失败：{c.source}"
        if c.type == "district":
            text[f"{c.name}.known_district"] = f"未知行政区划代码：{c.source}"
        if c.type == "enum":
            text[f"{c.name}.in_set"] = f"取值不在枚举范围内：{c.source}"
        if c.not_future:
            text[f"{c.name}.not_future"] = f"日期晚于业务日期：{c.source}"
    for r in feed.validation.rules:
        text[r.id] = r.description or r.id
    return text


def build_suite(feed: Feed, business_date: dt.date) -> gx.ExpectationSuite:
    """The feed's suite: rules implied by column types, then the registry's extra rules."""
    suite = gx.ExpectationSuite(name=f"{feed.feed_id}_suite")

    def add(rule_id: str, expectation) -> None:
        expectation.meta = {"rule_id": rule_id}
        suite.add_expectation(expectation)

    for c in feed.columns:
        if c.required:
            add(f"{c.name}.required", gxe.ExpectColumnValuesToNotBeNull(column=c.name))
        if c.type in ("date", "datetime", "int", "decimal", "bool"):
            add(f"{c.name}.parseable", gxe.ExpectColumnValuesToBeNull(column=UNPARSED + c.name))
        if c.type == "uscc":
            add(f"{c.name}.valid_uscc", ExpectColumnValuesToBeValidUscc(column=c.name))
        if c.type == "district":
            add(f"{c.name}.known_district", gxe.ExpectColumnValuesToBeInSet(column=c.name, value_set=sorted(DISTRICTS)))
        if c.type == "enum":
            add(f"{c.name}.in_set", gxe.ExpectColumnValuesToBeInSet(column=c.name, value_set=sorted(c.values)))
        if c.not_future:
            latest = dt.datetime.combine(business_date, dt.time.max)
            add(f"{c.name}.not_future", gxe.ExpectColumnValuesToBeBetween(column=c.name, max_value=latest))
    for r in feed.validation.rules:
        add(r.id, expectation_class(r.expectation)(**r.kwargs))
    return suite
