"""The feed registry: one YAML file per feed under ``include/feeds/``.

Each file is validated by a strict pydantic model (unknown fields rejected);
errors name the file and the field. Secrets never live here: deliveries name
an Airflow connection id. Reading the registry is the only work a DAG file
does at parse time, so this module imports nothing heavy.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Annotated, ClassVar, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from safety_hub.config import settings

FEED_ID = re.compile(r"^[a-z][a-z0-9]*_[a-z0-9_]+$")


class RegistryError(ValueError):
    """A feed file that does not satisfy the schema; the message names file and field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Agency(_Strict):
    code: str = Field(pattern=r"^[a-z]+$")
    name: str
    pool_slots: int = 2


class RestApiDelivery(_Strict):
    """A paginated JSON API with a bearer token and an ``updated_since`` cursor."""

    kind: Literal["rest_api"]
    conn_id: str
    conn_type: ClassVar[str] = "http"  # the Airflow connection conn_id names: the API's URL (host) and token (password)
    endpoint: str
    page_size: int = Field(default=200, gt=0, le=5000)
    timeout_seconds: float = Field(default=30, gt=0)  # each connect and socket read (the connection's extra.timeout overrides)
    # Limits of one run; past any of them the run fails in one line and nothing lands.
    max_pages: int = Field(default=10_000, gt=0)  # pages the API may announce
    max_page_mb: float = Field(default=50, gt=0)  # bytes of one page (announced or read)
    max_total_mb: float = Field(default=2048, gt=0)  # bytes of all the run's pages together
    request_deadline_seconds: float = Field(default=120, gt=0)  # one page's request: retries, their waits and the body
    # Plain http is refused (token and data in clear) unless the host is loopback, the
    # connection's extra says allow_http: true, or the feed says so here.
    allow_http: bool = False


class FileDropDelivery(_Strict):
    """Daily files dropped in a folder; ``pattern`` is formatted with the business date."""

    kind: Literal["file_drop"]
    conn_id: str
    conn_type: ClassVar[str] = "fs"  # the Airflow connection conn_id names: the drop folder (extra.path)
    pattern: str
    format: Literal["csv", "xlsx"] = "csv"
    # A file is complete when its marker (<file><marker_suffix>) exists, or when
    # its size is unchanged over settle_seconds.
    marker_suffix: str | None = None
    settle_seconds: float = Field(default=2, ge=0, le=600)
    wait_timeout_hours: float = Field(default=12, gt=0)
    # "auto" detects UTF-8 (with or without BOM), then GB18030 (a superset of GBK).
    encoding: Literal["auto", "utf-8", "utf-8-sig", "gbk", "gb18030"] = "auto"
    # CSV: whether a quoted value may span lines. Off, every physical line is one record and
    # a line with an unmatched quote is quarantined as ``row.shape`` instead of swallowing its neighbours.
    multiline_values: bool = False
    # XLSX: the sheet holding the data. Unset, it is the only visible sheet whose header names the feed's columns.
    sheet: str | None = None

    @field_validator("pattern")
    @classmethod
    def _has_date(cls, v: str) -> str:
        if "{date" not in v:
            raise ValueError("pattern must contain a {date:...} placeholder")
        return v


class SqlExtractDelivery(_Strict):
    """Rows of one table in the agency's own database, windowed by ``updated_column``."""

    kind: Literal["sql_extract"]
    conn_id: str
    conn_type: ClassVar[str] = "generic"  # the Airflow connection conn_id names: the database's SQLAlchemy URL (extra.url)
    table: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    updated_column: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    chunk_rows: int = 50_000


Delivery = Annotated[Union[RestApiDelivery, FileDropDelivery, SqlExtractDelivery], Field(discriminator="kind")]

# code: an identifier typed by clerks (plate, permit, UN number): stored half-width, upper case, trimmed.
ColumnType = Literal["str", "code", "uscc", "district", "org_name", "date", "datetime", "int", "decimal", "bool", "enum"]


_CJK = re.compile(r"[\u3400-\u9fff]")


class Column(_Strict):
    """One agency column mapped to a warehouse column, with its type and rules."""

    source: str
    # The field's Chinese name, for people (warehouse column comments, the data dictionary, quarantine
    # reasons); required where the agency's header is a code such as ``yhbh`` (a Chinese header is its own label).
    label: str | None = None
    # Other headers the agency has used for this column (schema drift: renamed columns).
    aliases: list[str] = Field(default_factory=list)
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    type: ColumnType = "str"
    required: bool = False
    # enum only: canonical value -> accepted spellings ("完成", "√", ...)
    values: dict[str, list[str]] | None = None
    not_future: bool = False
    # Personal data (a named person, a certificate or phone number): hidden from the analyst role.
    personal: bool = False
    # str only: tab, CR and LF inside a value are kept (free text over several lines); otherwise
    # text hygiene makes each run of them one space (quality/normalise.py).
    multiline: bool = False

    @property
    def display_name(self) -> str:
        """``隐患编号（yhbh）`` for a coded header, the header itself when it is Chinese."""
        return f"{self.label}（{self.source}）" if self.label and self.label != self.source else self.source

    @property
    def coded_header(self) -> bool:
        """The agency's header is a code (``yhbh``, ``CF_WSH``), not a Chinese name."""
        return not _CJK.search(self.source)

    @model_validator(mode="after")
    def _label_is_chinese(self) -> "Column":
        if self.label is not None and not _CJK.search(self.label):
            raise ValueError(f"'label' is the field's Chinese name, got {self.label!r}")
        return self

    @model_validator(mode="after")
    def _enum_has_values(self) -> "Column":
        if (self.type == "enum") != (self.values is not None):
            raise ValueError("'values' is required for type enum and only allowed there")
        if self.multiline and self.type != "str":
            raise ValueError("'multiline' is only allowed for type str")
        return self


class Derived(_Strict):
    """A column computed from other (typed) columns by a function in ``safety_hub.domain.codes``."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    function: str = Field(pattern=r"^[a-z_][a-z0-9_]*$")
    args: list[str]
    type: ColumnType = "str"


class Rule(_Strict):
    """An extra Great Expectations expectation, by its snake_case name."""

    id: str = Field(pattern=r"^[a-z0-9_.<>=]+$")
    expectation: str = Field(pattern=r"^expect_[a-z0-9_]+$")
    kwargs: dict = Field(default_factory=dict)
    description: str = ""
    # error: the row is quarantined; warning: the row loads and is flagged (table quality_flag).
    severity: Literal["error", "warning"] = "error"


class Limits(_Strict):
    """What one delivery may hold; more is refused before it is read (exit 2), not an out-of-memory crash."""

    max_file_mb: float = Field(default=2048, gt=0)
    max_rows: int = Field(default=10_000_000, gt=0)
    max_columns: int = Field(default=300, gt=0)
    max_field_chars: int = Field(default=32_767, gt=0)  # Excel's own cell limit
    # XLSX: rows and columns of the sheet's used range, and merged ranges
    max_sheet_cells: int = Field(default=50_000_000, gt=0)
    max_merged_ranges: int = Field(default=10_000, ge=0)


# Checks the suite adds for a column type that only warn (``<column>.<check>``): a pilot-era
# USCC is valid but loads flagged. Every other implied rule (required, parseable, ...) is an error.
IMPLIED_WARNINGS = frozenset({"pilot_era"})


class Validation(_Strict):
    max_invalid_share: float = Field(default=0.3, ge=0, le=1)
    rules: list[Rule] = Field(default_factory=list)
    # Volume anomaly: rows delivered outside median * (1 ± volume_band) of the trailing runs warn.
    volume_band: float = Field(default=0.5, gt=0)
    volume_window: int = Field(default=7, ge=2)
    # Freshness: no successful load for longer than this (hours) reports the feed stale. On
    # ``working_days`` (agencies deliver on statutory working days) only hours of working days
    # count, so a weekend or a holiday makes no feed stale; ``every_day`` counts every hour.
    fresh_within_hours: float = Field(default=36, gt=0)
    fresh_calendar: Literal["working_days", "every_day"] = "working_days"

    def severity(self, rule_id: str) -> str:
        """A registry rule's severity; for a rule implied by a column type, error unless in ``IMPLIED_WARNINGS``."""
        implied = "warning" if "." in rule_id and rule_id.rpartition(".")[2] in IMPLIED_WARNINGS else "error"
        return next((r.severity for r in self.rules if r.id == rule_id), implied)


# The conformed hazard columns (table ``hazard``); uscc, description, found_date and status are required.
LIFECYCLE_COLUMNS = ("uscc", "org_name", "district_code", "description", "found_date", "grade", "deadline",
                     "fixed_date", "accepted_date", "closed_date", "listed_supervision", "status")
LIFECYCLE_REQUIRED = ("uscc", "description", "found_date", "status")


class Lifecycle(_Strict):
    """The feed reports hazards: every loaded version joins the conformed ``hazard`` table.

    One hazard is identified across agencies and resubmissions by (uscc, normalised
    description, found_date). Statuses move forward in ``statuses`` order; a later
    version with an earlier status is a regression (quarantined as
    ``status.no_regression``) unless the move is listed in ``reopen``.
    """

    columns: dict[str, str]  # conformed column -> this feed's column
    statuses: list[str]  # first to last, e.g. 待整改, 整改中, 待验收, 验收销号
    closed: str  # the status that closes a hazard (销号)
    major: str  # the grade value of a major hazard (重大隐患)
    reopen: list[tuple[str, str]] = Field(default_factory=list)  # allowed backward moves (from, to)


class Reporters(_Strict):
    """Who must report the feed, how often and by when (报送情况: 应报单位, 报送频次, 报送时限).

    Each delivered row names its reporting unit in ``unit_column`` (a typed column: the district
    code, legacy codes mapped; or a key enterprise's USCC) and the period it reports for in
    ``period_column`` (the 报送批次 carries its date: the first ``period_pattern`` group, ``%Y%m%d``;
    a row without one reports for its delivery's business date). ``units`` are the units that must
    report: every current district (``all_districts``) or a list of codes. A period is a working
    day, an ISO week or a month of the statutory working-day calendar (``domain/workdays.py``);
    its report is due in the delivery of the ``due_working_days``-th working day after the
    period's last working day (0: that day's delivery). A delivery's time is its business date
    (the raw partition's day), so a replay or a backfill reports nothing late.
    """

    unit_column: str = "district_code"
    units: Literal["all_districts"] | list[str] = "all_districts"
    frequency: Literal["working_day", "week", "month"] = "working_day"  # 每工作日 / 每周 / 每月
    due_working_days: int = Field(default=0, ge=0, le=30)
    period_column: str = "report_batch"
    period_pattern: str = r"(\d{8})"
    # an alert (ops/reporting_alerts.py) when a unit has missed this many consecutive periods
    alert_after_missed: int = Field(default=3, ge=1)

    @field_validator("period_pattern")
    @classmethod
    def _one_group(cls, v: str) -> str:
        if re.compile(v).groups < 1:
            raise ValueError("period_pattern needs a group capturing the period's date (yyyymmdd)")
        return v

    @field_validator("units")
    @classmethod
    def _units_unique(cls, v):
        if isinstance(v, list) and (not v or len(set(v)) != len(v)):
            raise ValueError("units must be a non-empty list without repeats, or all_districts")
        return v


class Feed(_Strict):
    feed_id: str
    agency: str
    dataset: str
    title: str
    description: str = ""
    owner: str = "data-engineering"
    schedule: str = "0 1 * * *"
    start_date: str = "2026-01-01"
    delivery: Delivery
    mode: Literal["incremental", "snapshot"] = "incremental"
    columns: list[Column]
    derived: list[Derived] = Field(default_factory=list)
    key: list[str]
    target_table: str = Field(pattern=r"^fact_[a-z0-9_]+$")
    # Also keep every delivered version of each record, per business date, in this table (the staged
    # rows of each load, stale ones included): the as-of reads of a past date see only what was loaded
    # for business dates up to it (``warehouse.sqltext.versions_asof``), whatever came later.
    version_table: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]*_version$")
    validation: Validation = Validation()
    limits: Limits = Limits()
    lifecycle: Lifecycle | None = None
    reporters: Reporters | None = None

    @field_validator("feed_id")
    @classmethod
    def _feed_id_form(cls, v: str) -> str:
        if not FEED_ID.match(v):
            raise ValueError("feed_id must look like <agency>_<dataset>, lower case")
        return v

    def consistency_errors(self) -> list[tuple[str, str]]:
        """Cross-field problems as (field, message); checked by ``load_feed``."""
        errors = []
        names = [c.name for c in self.columns] + [d.name for d in self.derived]
        if len(set(names)) != len(names):
            errors.append(("columns", "column names must be unique"))
        if self.mode == "snapshot" and len(self.key) != 1:
            errors.append(("key", "a snapshot feed needs a single-column key (deletions are tracked by key)"))
        missing = [k for k in self.key if k not in names]
        if missing:
            errors.append(("key", f"key columns {missing} are not among the columns"))
        for d in self.derived:
            unknown = [a for a in d.args if a not in names]
            if unknown:
                errors.append(("derived", f"{d.name}: arguments {unknown} are not among the columns"))
        if self.lifecycle is not None:
            lc = self.lifecycle
            unknown = sorted(set(lc.columns) - set(LIFECYCLE_COLUMNS))
            if unknown:
                errors.append(("lifecycle.columns", f"unknown conformed columns {unknown}; known: {list(LIFECYCLE_COLUMNS)}"))
            missing = [c for c in LIFECYCLE_REQUIRED if c not in lc.columns]
            if missing:
                errors.append(("lifecycle.columns", f"conformed columns {missing} must be mapped"))
            absent = [v for v in lc.columns.values() if v not in names]
            if absent:
                errors.append(("lifecycle.columns", f"feed columns {absent} are not among the columns"))
            if lc.closed not in lc.statuses or any(a not in lc.statuses or b not in lc.statuses for a, b in lc.reopen):
                errors.append(("lifecycle", "'closed' and every 'reopen' status must be one of 'statuses'"))
        if self.reporters is not None:
            for field_name in ("unit_column", "period_column"):
                if getattr(self.reporters, field_name) not in names:
                    errors.append((f"reporters.{field_name}", f"'{getattr(self.reporters, field_name)}' is not among the columns"))
        if not self.feed_id.startswith(self.agency + "_"):
            errors.append(("feed_id", f"must start with the agency code '{self.agency}_'"))
        return errors

    @property
    def required_sources(self) -> list[str]:
        return [c.source for c in self.columns if c.required]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


def _format_error(path: Path, err: ValidationError) -> str:
    lines = [f"{path}: invalid feed definition"]
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "<root>"
        lines.append(f"  field '{loc}': {e['msg']}")
    return "\n".join(lines)


# libyaml's safe loader when PyYAML was built with it (the wheels are): the same documents,
# about 10x faster than the pure-Python one, which took ~0.3-0.8 s per task for the registry.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_load(text: str):
    """``yaml.safe_load`` through libyaml when available."""
    return yaml.load(text, Loader=_SAFE_LOADER)  # noqa: S506  (a safe loader)


def _read_yaml(path: Path) -> dict:
    try:
        data = safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise RegistryError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise RegistryError(f"{path}: expected a mapping at the top level")
    return data


def load_feed(path: Path) -> Feed:
    """Load and validate one feed file."""
    try:
        feed = Feed.model_validate(_read_yaml(path))
    except ValidationError as exc:
        raise RegistryError(_format_error(path, exc)) from None
    problems = feed.consistency_errors()
    if problems:
        raise RegistryError("\n".join([f"{path}: invalid feed definition", *(f"  field '{f}': {m}" for f, m in problems)]))
    if path.stem != feed.feed_id:
        raise RegistryError(f"{path}: field 'feed_id': '{feed.feed_id}' must match the file name")
    return feed


def load_agencies(feeds_dir: Path | None = None) -> dict[str, Agency]:
    path = (feeds_dir or settings.feeds_dir()) / "_agencies.yaml"
    data = _read_yaml(path)
    agencies = {}
    for code, body in data.items():
        try:
            agencies[code] = Agency.model_validate({"code": code, **body})
        except ValidationError as exc:
            raise RegistryError(_format_error(path, exc)) from None
    return agencies


@functools.lru_cache(maxsize=8)
def _load_all(feeds_dir: Path) -> tuple[dict[str, Agency], dict[str, Feed]]:
    agencies = load_agencies(feeds_dir)
    feeds: dict[str, Feed] = {}
    for path in sorted(feeds_dir.glob("*.yaml")):
        if path.name.startswith("_"):
            continue
        feed = load_feed(path)
        if feed.agency not in agencies:
            raise RegistryError(f"{path}: field 'agency': unknown agency '{feed.agency}' (see _agencies.yaml)")
        feeds[feed.feed_id] = feed
    _check_version_tables(feeds)
    return agencies, feeds


def _check_version_tables(feeds: dict[str, Feed]) -> None:
    """A version table keeps the versions of one fact table: feeds sharing a target table name the
    same one (or none), and no two target tables share one."""
    by_target: dict[str, set[str | None]] = {}
    for feed in feeds.values():
        by_target.setdefault(feed.target_table, set()).add(feed.version_table)
    for target, names in by_target.items():
        if len(names) > 1:
            raise RegistryError(f"feeds of {target} name different version tables {sorted(map(str, names))}: name the same one in each")
    owners: dict[str, str] = {}
    for target, names in by_target.items():
        for name in names - {None}:
            if name in owners:
                raise RegistryError(f"version table {name} is named for both {owners[name]} and {target}: one fact table each")
            owners[name] = target


def load_registry(feeds_dir: Path | None = None) -> dict[str, Feed]:
    """All feeds, keyed by feed id, sorted."""
    return _load_all((feeds_dir or settings.feeds_dir()).resolve())[1]


def agencies(feeds_dir: Path | None = None) -> dict[str, Agency]:
    return _load_all((feeds_dir or settings.feeds_dir()).resolve())[0]


def get_feed(feed_id: str, feeds_dir: Path | None = None) -> Feed:
    feeds = load_registry(feeds_dir)
    if feed_id not in feeds:
        raise RegistryError(f"unknown feed '{feed_id}'; registered: {', '.join(feeds)}")
    return feeds[feed_id]


class Precedence(_Strict):
    """``_precedence.yaml``: per conformed enterprise column, feed ids in order of authority."""

    district_code: list[str] = Field(default_factory=list)
    org_name: list[str] = Field(default_factory=list)


def load_precedence(feeds_dir: Path | None = None) -> Precedence:
    """Source precedence for dim_enterprise (no file: every feed ranks equal, the latest report wins)."""
    feeds_dir = feeds_dir or settings.feeds_dir()
    path = feeds_dir / "_precedence.yaml"
    if not path.exists():
        return Precedence()
    try:
        precedence = Precedence.model_validate(_read_yaml(path))
    except ValidationError as exc:
        raise RegistryError(_format_error(path, exc)) from None
    known = load_registry(feeds_dir)
    for column in Precedence.model_fields:
        ids = getattr(precedence, column)
        unknown = [f for f in ids if f not in known]
        if unknown:
            raise RegistryError(f"{path}: field '{column}': unknown feeds {unknown}")
        if len(set(ids)) != len(ids):
            raise RegistryError(f"{path}: field '{column}': a feed is listed twice")
    return precedence


class CrossRuleScope(_Strict):
    """What a cross rule's answer for a record depends on: the rows of ``tables`` (fact table ->
    column) whose column holds the same value as the record's own row (its feed's table is one of
    them). The incremental build re-checks the rule only for the values a load changed."""

    tables: dict[str, str] = Field(min_length=1)


class CrossRule(_Strict):
    """A rule over more than one feed or over history, checked by the warehouse build.

    ``sql`` selects the offending rows of ``feed``'s fact table with at least
    ``record_key`` (the feed's key), ``batch_id``, ``business_date`` and ``raw_file``; other selected
    columns are kept as the flag's values. Cross rules flag (warning): the rows were
    valid in their own batch and are already loaded. Without ``scope`` an incremental build
    checks the rule over the whole warehouse.
    """

    id: str = Field(pattern=r"^[a-z0-9_.<>=]+$")
    feed: str
    description: str
    severity: Literal["warning"] = "warning"
    sql: str
    scope: CrossRuleScope | None = None


class CrossRules(_Strict):
    rules: list[CrossRule] = Field(default_factory=list)


def load_cross_rules(feeds_dir: Path | None = None) -> list[CrossRule]:
    """``_cross_rules.yaml`` (no file: none)."""
    feeds_dir = feeds_dir or settings.feeds_dir()
    path = feeds_dir / "_cross_rules.yaml"
    if not path.exists():
        return []
    try:
        rules = CrossRules.model_validate(_read_yaml(path)).rules
    except ValidationError as exc:
        raise RegistryError(_format_error(path, exc)) from None
    known = load_registry(feeds_dir)
    for r in rules:
        if r.feed not in known:
            raise RegistryError(f"{path}: rule '{r.id}': unknown feed '{r.feed}'")
        if r.scope is not None:
            feed = known[r.feed]
            if feed.target_table not in r.scope.tables or len(feed.key) != 1:
                raise RegistryError(f"{path}: rule '{r.id}': scope.tables must name its feed's table {feed.target_table} "
                                    "(and the feed have a one-column key, its record_key)")
            columns = {f.target_table: {c.name for c in f.columns} | {d.name for d in f.derived} for f in known.values()}
            for table, column in r.scope.tables.items():
                if column not in columns.get(table, ()):
                    raise RegistryError(f"{path}: rule '{r.id}': scope names {table}.{column}, not a column of a fact table")
    if len({r.id for r in rules}) != len(rules):
        raise RegistryError(f"{path}: rule ids must be unique")
    return rules
