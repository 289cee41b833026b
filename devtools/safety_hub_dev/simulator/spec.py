"""How a simulated dataset is described: its record builder, its layout for the
defect injector, and how its agency delivers it. Datasets register themselves
in ``SPECS`` from the modules of ``safety_hub_dev.simulator.datasets``."""

from __future__ import annotations

import contextvars
import datetime as dt
import random
from dataclasses import dataclass
from typing import Callable, Literal, Union

from safety_hub.config.settings import business_tz
from safety_hub_dev.simulator.enterprises import Enterprise


@dataclass(frozen=True)
class Api:
    """Served by the simulator's HTTP API at ``/api/v1/<endpoint>``."""

    endpoint: str


@dataclass(frozen=True)
class CsvDrop:
    """A CSV file per day in ``<out>/<folder>/``; ``filename`` is formatted with ``date``."""

    folder: str
    filename: str
    encoding: str = "gbk"  # gbk, gb18030, utf-8-sig (BOM) or utf-8


@dataclass(frozen=True)
class XlsxDrop:
    """An Excel workbook per day as offices make them: a title row above a merged
    two-level header, the data, then note rows."""

    folder: str
    filename: str
    title: str


@dataclass(frozen=True)
class SqliteTable:
    """Rows upserted into the agency's own SQLite database ``<out>/<folder>/<db>``."""

    folder: str
    db: str
    table: str


Delivery = Union[Api, CsvDrop, XlsxDrop, SqliteTable]


@dataclass(frozen=True)
class RuleDefect:
    """A defect only a dataset's own rule catches (a bad plate, a supervised 一般 hazard).

    ``apply(rng, record, day, partner)`` edits ``record`` in place and returns False when
    the record cannot carry this defect (it then stays clean). With ``pair=True`` the
    defect is between two records (two cases sharing one document number): ``partner``
    is an earlier clean record of the same day, and both break ``rule``. A ``warning``
    rule flags the rows and loads them, so the truth lists them as flagged, not rejected.
    """

    kind: str
    rule: str
    apply: Callable[[random.Random, dict, dt.date, dict | None], bool] | None
    severity: Literal["error", "warning"] = "error"
    pair: bool = False
    # "warehouse": a cross-feed rule the warehouse build checks (not one batch's suite)
    stage: Literal["validate", "warehouse"] = "validate"
    # Injected by the dataset's ``history`` (a policy renewed after a gap, a document number a case
    # of an earlier day carries), not drawn per record by the injector; ``apply`` may then be None.
    history: bool = False

    def entry(self, **extra) -> dict:
        """The truth entry of a record carrying this defect, less its key (``extra``: more about it)."""
        out = {"kind": self.kind, "expected_rule": self.rule if self.severity == "error" else None}
        if self.severity == "warning":
            out["expected_flag"] = self.rule
        if self.stage != "validate":
            out["stage"] = self.stage
        return {**out, **extra}


# A dataset's history defects for one day: ``history(day, seed, pool, n, earlier)`` returns the
# records delivered today besides the built ones, each with its truth entry (``kind``,
# ``expected_rule``/``expected_flag``, ``stage``, ...) or None for a clean record a defect needs
# beside it. ``earlier(d)`` is day ``d``'s delivery and truth before its own history records.
History = Callable[[dt.date, int, list[Enterprise], int, Callable[[dt.date], tuple[list[dict], dict]]], list[tuple[dict, dict | None]]]
Builder = Callable[[random.Random, dt.date, list[Enterprise], int], list[dict]]


@dataclass(frozen=True)
class DatasetSpec:
    """One agency dataset; field names are the agency's own."""

    feed_id: str
    build: Builder
    volume: int  # records per day before defects
    delivery: Delivery
    key: str
    uscc: str
    name: str
    district: str
    batch: str
    updated: str
    required: tuple[tuple[str, str], ...]  # (agency field, warehouse column) that may be blanked
    date_order: tuple[str, str, str] | None  # (earlier field, later field, rule id)
    mode: Literal["incremental", "snapshot"] = "incremental"
    # Late updates: records first delivered on an earlier day re-delivered today with a
    # new status (e.g. a hazard closed a week later). ``late_update`` returns the updated
    # record, or None when the record cannot move on; ``late_update_share`` is the share
    # of each of the last ``late_update_days`` days' records that gets one.
    late_update: Callable[[random.Random, dict, dt.date], dict | None] | None = None
    late_update_share: float = 0.0
    late_update_days: int = 7
    rule_defects: tuple[RuleDefect, ...] = ()
    # Resubmission under a new number: the same record again with ``resubmit_key(key)``.
    # It loads as its own fact row; the warehouse's de-duplication makes it one hazard.
    resubmit_key: Callable[[str], str] | None = None
    # Status regressions: a record closed on an earlier day (1-2 days back) re-delivered
    # with an earlier status; ``regress`` returns it, or None when it cannot regress.
    regress: Callable[[random.Random, dict, dt.date], dict | None] | None = None
    regress_share: float = 0.0
    # Defects seen only over the records' history in the warehouse, with their clean partners
    # (see ``History``); the dataset's ``RuleDefect``s with ``history=True`` name their kinds.
    history: History | None = None
    # 信息缺失: the agency fields the agency may leave empty (the feed's optional data items); ``generate``
    # blanks each of them on some clean records every day. ``filled_if``: (field, predicate) for an optional
    # field a rule requires on some records (a 重大 hazard's deadline): a record the predicate holds for keeps it.
    optional: tuple[str, ...] = ()
    filled_if: tuple[tuple[str, Callable[[dict], bool]], ...] = ()
    # A small ledger (a few dozen records a day): one record a day carries the next of the dataset's
    # per-record rule defects in turn (by the day's ordinal), so each kind occurs within as many days as
    # there are kinds, besides those the injector draws at its generic rate.
    rule_defect_each_day: bool = False


def value_in(field_name: str, *spellings: str) -> Callable[[dict], bool]:
    """A ``filled_if`` predicate: the record's ``field_name`` is one of ``spellings`` (trimmed)."""
    return lambda rec: str(rec.get(field_name) or "").strip() in spellings


SPECS: dict[str, DatasetSpec] = {}


def register(spec: DatasetSpec) -> DatasetSpec:
    SPECS[spec.feed_id] = spec
    return spec


CN_TZ = business_tz()  # Beijing time, the one definition (config/settings.py)


def stamp(day: dt.date, rng: random.Random) -> str:
    """An update timestamp within the business day, Beijing time, ISO format."""
    t = dt.datetime.combine(day, dt.time(8)) + dt.timedelta(seconds=rng.randrange(0, 10 * 3600))
    return t.isoformat(timespec="seconds") + "+08:00"


def cn_date(d: dt.date | None, rng: random.Random) -> str | None:
    """Dates as clerks type them (C4): ISO, 2026.3.5 or 2026年3月5日."""
    if d is None:
        return None
    style = rng.random()
    if style < 0.6:
        return d.isoformat()
    if style < 0.8:
        return f"{d.year}.{d.month}.{d.day}"
    return f"{d.year}年{d.month}月{d.day}日"


def iso(d: dt.date | None) -> str | None:
    return d.isoformat() if d else None


# The active volume profile (``profile.Profile``) while ``generate_day`` runs one; None for the
# demo's default profile. Builders read their profile parameters with ``knob``: a knob changes a
# value drawn, never the number of draws, so the default profile stays byte for byte the same.
ACTIVE_PROFILE: contextvars.ContextVar = contextvars.ContextVar("simulator_profile", default=None)


def knob(name: str, default):
    """The active profile's value of parameter ``name``, or ``default`` (the demo's)."""
    profile = ACTIVE_PROFILE.get()
    return default if profile is None else profile.knobs.get(name, default)
