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
from great_expectations.expectations.expectation import ColumnMapExpectation, ColumnPairMapExpectation, MulticolumnMapExpectation
from great_expectations.expectations.metrics.map_metric_provider import (
    ColumnMapMetricProvider,
    ColumnPairMapMetricProvider,
    MulticolumnMapMetricProvider,
    column_condition_partial,
    column_pair_condition_partial,
    multicolumn_condition_partial,
)

from safety_hub.domain.places import DISTRICTS
from safety_hub.quality.normalise import UNPARSED
from safety_hub.config.registry import Feed


class ColumnValuesValidUscc(ColumnMapMetricProvider):
    condition_metric_name = "column_values.valid_uscc"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, **kwargs):
        # Vectorised (numpy over the code bytes); same answers as column.map(is_valid_uscc).
        # GX passes the column with nulls already dropped; the mask keeps its index.
        from safety_hub.domain.uscc import uscc_valid_mask

        return uscc_valid_mask(column)


class ExpectColumnValuesToBeValidUscc(ColumnMapExpectation):
    """Values are Unified Social Credit Codes with a correct GB 32100 check character (or pilot-era codes)."""

    map_metric = "column_values.valid_uscc"
    success_keys = ("mostly",)


class ColumnValuesNotPilotEraUscc(ColumnMapMetricProvider):
    condition_metric_name = "column_values.not_pilot_era_uscc"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, **kwargs):
        from safety_hub.domain.uscc import uscc_pilot_era_mask

        return ~uscc_pilot_era_mask(column)


class ExpectColumnValuesToNotBePilotEraUscc(ColumnMapExpectation):
    """Values are not pilot-era USCCs (``..35....M000......``, issued before the check rule).

    The feed suite runs it as the warning rule ``<column>.pilot_era``: such a code is
    valid (``ExpectColumnValuesToBeValidUscc`` accepts it whatever its check character),
    the row loads and is flagged in ``quality_flag``.
    """

    map_metric = "column_values.not_pilot_era_uscc"
    success_keys = ("mostly",)


def _code_expectation(check: str, doc: str) -> type[ColumnMapExpectation]:
    """A column map expectation (and its metric) from a scalar check in ``safety_hub.domain.codes``.

    ``check`` names the function (``is_valid_plate``); the expectation is
    ``expect_column_values_to_be_<check without is_>`` and runs the check once per
    distinct value (:func:`safety_hub.domain.codes.column_mask`).
    """
    suffix = check.removeprefix("is_")
    metric = f"column_values.{suffix}"

    def _pandas(cls, column, **kwargs):
        from safety_hub.domain import codes

        return codes.column_mask(column, getattr(codes, check))

    type(f"ColumnValues{_camel(suffix)}", (ColumnMapMetricProvider,), {
        "condition_metric_name": metric,
        "_pandas": column_condition_partial(engine=PandasExecutionEngine)(_pandas),
    })
    cls = type(f"ExpectColumnValuesToBe{_camel(suffix)}", (ColumnMapExpectation,), {
        "__doc__": doc, "map_metric": metric, "success_keys": ("mostly",), "__module__": __name__,
    })
    globals()[cls.__name__] = cls
    return cls


def _camel(snake: str) -> str:
    return "".join(part.capitalize() for part in snake.split("_"))


ExpectColumnValuesToBeValidPlate = _code_expectation("is_valid_plate", "Tianjin motor vehicle plates (GA 36-2018), new-energy included.")
ExpectColumnValuesToBeValidTrailerPlate = _code_expectation("is_valid_trailer_plate", "Tianjin trailer plates ending in 挂 (GA 36-2018).")
ExpectColumnValuesToBeValidPermitNo = _code_expectation("is_valid_permit_no", "施工许可证号: 18 digits, Tianjin region, a real embedded issue date.")
ExpectColumnValuesToBeValidUnNumber = _code_expectation("is_valid_un_number", "UN numbers: four digits in the assigned range.")
ExpectColumnValuesToBeValidPenaltyDocNo = _code_expectation("is_valid_penalty_doc_no", "处罚决定书文号 such as (津保)应急罚〔2023〕k-39号, any bracket style.")


class ColumnValuesKnownDistrict(ColumnMapMetricProvider):
    condition_metric_name = "column_values.known_district"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, **kwargs):
        return column.isin(list(DISTRICTS))


class ExpectColumnValuesToBeKnownDistrict(ColumnMapExpectation):
    """Values are one of Tianjin's 16 current GB/T 2260 district codes (legacy codes are mapped before)."""

    map_metric = "column_values.known_district"
    success_keys = ("mostly",)


class ColumnPairUnNumberMatchesClass(ColumnPairMapMetricProvider):
    condition_metric_name = "column_pair_values.un_number_matches_class"
    condition_domain_keys = ("batch_id", "table", "column_A", "column_B", "row_condition", "condition_parser", "ignore_row_if")
    condition_value_keys = ()

    @column_pair_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column_A, column_B, **kwargs):
        from safety_hub.domain import codes

        return codes.pair_mask(column_A, column_B, codes.un_number_matches_class)


class ExpectColumnPairUnNumberToMatchClass(ColumnPairMapExpectation):
    """column_A holds UN numbers, column_B the declared 危险货物类别; a known number must carry its class."""

    map_metric = "column_pair_values.un_number_matches_class"
    success_keys = ("column_A", "column_B", "ignore_row_if", "mostly")
    args_keys = ("column_A", "column_B")
    ignore_row_if: str = "either_value_is_missing"


class MulticolumnValuesConsistentPerKey(MulticolumnMapMetricProvider):
    condition_metric_name = "multicolumn_values.consistent_per_key"
    condition_domain_keys = ("batch_id", "table", "column_list", "row_condition", "condition_parser", "ignore_row_if")
    condition_value_keys = ("key_columns",)

    @multicolumn_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column_list, key_columns=1, **kwargs):
        # A delivery validated batch by batch: the whole delivery's answer (quality.crossrow).
        from safety_hub.quality.crossrow import consistent_per_key_mask, delivery_answer

        answer = delivery_answer(column_list, key_columns)
        return consistent_per_key_mask(column_list, key_columns) if answer is None else answer


class ExpectMulticolumnValuesToBeConsistentPerKey(MulticolumnMapExpectation):
    """The first ``key_columns`` columns identify a thing; every row for it carries the same other values.

    Repeated identical reports pass; two different records under one key (two cases sharing a
    document number, two chief pairs on one railway stretch) fail, all their rows.
    """

    map_metric = "multicolumn_values.consistent_per_key"
    success_keys = ("key_columns", "mostly")
    args_keys = ("column_list", "key_columns")
    key_columns: int = 1
    ignore_row_if: str = "never"


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
            text[f"{c.name}.required"] = f"必填字段缺失：{c.display_name}"
        if c.type in ("date", "datetime", "int", "decimal", "bool"):
            text[f"{c.name}.parseable"] = f"无法解析为{c.type}：{c.display_name}"
        if c.type == "uscc":
            text[f"{c.name}.valid_uscc"] = f"统一社会信用代码校验失败：{c.display_name}"
            text[f"{c.name}.pilot_era"] = f"试点期统一社会信用代码（不适用校验位规则，已入库并提示）：{c.display_name}"
        if c.type == "district":
            text[f"{c.name}.known_district"] = f"未知行政区划代码：{c.display_name}"
        if c.type == "enum":
            text[f"{c.name}.in_set"] = f"取值不在枚举范围内：{c.display_name}"
        if c.not_future:
            text[f"{c.name}.not_future"] = f"日期晚于业务日期：{c.display_name}"
    for r in feed.validation.rules:
        text[r.id] = r.description or r.id
    return text


def build_suite(feed: Feed, business_date: dt.date) -> gx.ExpectationSuite:
    """The feed's suite: rules implied by column types, then the registry's extra rules.

    A suite is set-like, as ``ExpectationSuite.add_expectation`` makes it: an expectation
    equal to one already there (meta aside) is not added again, so a rule written twice
    keeps its first id. Here each expectation is compared once, not against every earlier
    one on every add.
    """
    expectations: list = []
    seen: list[tuple[str, dict]] = []
    for rule_id, expectation in suite_rules(feed, business_date):
        expectation.meta = {"rule_id": rule_id}
        key = (expectation.expectation_type, expectation.dict(exclude=_NOT_IDENTITY))
        if key not in seen:
            seen.append(key)
            expectations.append(expectation)
    return gx.ExpectationSuite(name=f"{feed.feed_id}_suite", expectations=expectations)


def suite_rules(feed: Feed, business_date: dt.date):
    """(rule id, expectation) for each of the feed's rules, in suite order, repeats included."""
    for c in feed.columns:
        if c.required:
            yield f"{c.name}.required", gxe.ExpectColumnValuesToNotBeNull(column=c.name)
        if c.type in ("date", "datetime", "int", "decimal", "bool"):
            yield f"{c.name}.parseable", gxe.ExpectColumnValuesToBeNull(column=UNPARSED + c.name)
        if c.type == "uscc":
            yield f"{c.name}.valid_uscc", ExpectColumnValuesToBeValidUscc(column=c.name)
            yield f"{c.name}.pilot_era", ExpectColumnValuesToNotBePilotEraUscc(column=c.name)  # warning (registry.IMPLIED_WARNINGS)
        if c.type == "district":
            yield f"{c.name}.known_district", ExpectColumnValuesToBeKnownDistrict(column=c.name)
        if c.type == "enum":
            yield f"{c.name}.in_set", gxe.ExpectColumnValuesToBeInSet(column=c.name, value_set=sorted(c.values))
        if c.not_future:
            latest = dt.datetime.combine(business_date, dt.time.max)
            yield f"{c.name}.not_future", gxe.ExpectColumnValuesToBeBetween(column=c.name, max_value=latest)
    for r in feed.validation.rules:
        yield r.id, expectation_class(r.expectation)(**_bind(r.kwargs, business_date))


# Fields ExpectationSuite._expectations_are_equalish leaves out when it compares expectations.
_NOT_IDENTITY = {"id", "rendered_content", "notes", "meta"}


BUSINESS_DATE = "{business_date}"


def _bind(kwargs, business_date: dt.date):
    """Rule kwargs with ``{business_date}`` replaced by the run's business day (start of day).

    Lets a registry rule compare with the day being validated, e.g. a survey that must
    not have expired on the business date for a vessel still operating.
    """
    if isinstance(kwargs, dict):
        return {k: _bind(v, business_date) for k, v in kwargs.items()}
    if isinstance(kwargs, list):
        return [_bind(v, business_date) for v in kwargs]
    if kwargs == BUSINESS_DATE:
        return dt.datetime.combine(business_date, dt.time.min)
    return kwargs
