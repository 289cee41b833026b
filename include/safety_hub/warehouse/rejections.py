"""退回台账: every rejected record returned to its agency, and when a later delivery corrected it (闭环).

The ``quarantine`` table holds the current state of each business day (a re-delivery of the
day replaces that day's rows), so it cannot say whether a record rejected last week has since
been corrected. ``rejection`` keeps that history: one row per (feed, record key, business date it
was first rejected on), written by ``track`` in the load's own transaction:

* **opened**: a key in the batch's quarantine (by the validation rules; not the warehouse's
  ``status.no_regression``, and not a row without a key, which cannot be followed) that has no
  open rejection in the feed yet. A key rejected again while open keeps its first date: the
  clock runs from the first return.
* **closed as 已整改**: an open rejection whose key the fact table now holds from a delivery of
  its rejection date or later that is not itself in the quarantine of the batch being loaded:
  a corrected record that passed. ``closed_on`` is the business date of that delivery (a
  same-day re-delivery of a corrected file closes it on the same date, 0 working days).

Loads in any order give the same ledger for the same data: a key loaded later than its rejection
but by an earlier run closes the rejection when it opens. Re-running a batch changes nothing.

District: the delivered value of the feed's ``district_code`` column as validation reads it
(``domain.places.map_district``: a current or legacy Tianjin code, or a district's name, such as the
housing bureau's 静海区), else none (an unknown district is one of the rules a row is returned for).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa

from safety_hub.domain.dates import as_date
from safety_hub.config.registry import Feed
from safety_hub.domain.places import map_district
from safety_hub.domain.workdays import working_days_between

from safety_hub.warehouse.schema import REJECTION as TABLE
UNTRACKED_RULES = ("status.no_regression",)  # set by the warehouse build on loaded versions, not returned for correction


def _key_text(conn: sa.Connection, feed: Feed, alias: str) -> str:
    """SQL for a fact row's key as ``quarantine.record_key`` spells it (key columns as text, ``|``-joined)."""
    text = sa.Text().compile(dialect=conn.dialect)
    parts = [f'COALESCE(CAST({alias}."{k}" AS {text}), \'\')' for k in feed.key]
    return " || '|' || ".join(parts)


def _json_field(conn: sa.Connection, column: str, field: str) -> str:
    name = field.replace("'", "''")
    if conn.dialect.name == "postgresql":
        return f"(CAST({column} AS json) ->> '{name}')"
    return "json_extract_string({col}, '$.\"{name}\"')".format(col=column, name=name.replace('"', '\\"'))


def _district_source(feed: Feed) -> str | None:
    return next((c.source for c in feed.columns if c.name == "district_code"), None)


def _district_codes(conn: sa.Connection, raw: str, params: dict) -> tuple[str, dict]:
    """SQL of a relation ``m(raw, code)``: each delivered district value of the batch's quarantine that names a
    Tianjin district, and its code (``map_district``, as validation maps it); its parameters."""
    values = [r[0] for r in conn.execute(sa.text(
        f"SELECT DISTINCT {raw} FROM quarantine q WHERE q.feed_id = :feed_id AND q.business_date = :day AND q.batch_id = :batch"),
        {k: params[k] for k in ("feed_id", "day", "batch")}) if r[0] is not None]
    pairs = [(v, map_district(v)) for v in values]
    pairs = [(v, c) for v, c in pairs if c]
    if not pairs:
        return "(SELECT CAST(NULL AS VARCHAR) AS raw, CAST(NULL AS VARCHAR) AS code) m", {}
    rows = ", ".join(f"(CAST(:raw{i} AS VARCHAR), CAST(:code{i} AS VARCHAR))" for i in range(len(pairs)))
    bound = {f"raw{i}": v for i, (v, _) in enumerate(pairs)} | {f"code{i}": c for i, (_, c) in enumerate(pairs)}
    return f"(VALUES {rows}) AS m(raw, code)", bound


def track(conn: sa.Connection, feed: Feed, day: dt.date, batch_id: str, loaded_batch: str | None = None) -> tuple[int, int]:
    """Open the batch's new rejections and close the corrected ones, in ``conn``'s transaction; (opened, closed).

    Runs after the batch's quarantine (``batch_id``: the validated batch) and facts (``loaded_batch``,
    the same run unless the load was given another id; None: nothing was loaded) are written.
    """
    if not feed.key:
        return 0, 0
    params = {"feed_id": feed.feed_id, "day": day, "batch": batch_id, "loaded": loaded_batch or "", "untracked": list(UNTRACKED_RULES)}
    untracked = sa.bindparam("untracked", expanding=True)
    source = _district_source(feed)
    raw_district = _json_field(conn, "q.original_values", source) if source else "CAST(NULL AS VARCHAR)"
    codes, code_params = _district_codes(conn, raw_district, params)
    opened = conn.execute(sa.text(f"""
        INSERT INTO {TABLE} (feed_id, record_key, agency, district_code, rules, rejected_on, rejected_batch)
        SELECT :feed_id, q.record_key, :agency, MIN(m.code),
               STRING_AGG(DISTINCT q.rule_id, ',' ORDER BY q.rule_id), :day, :batch
        FROM quarantine q
        LEFT JOIN {codes} ON m.raw = {raw_district}
        WHERE q.feed_id = :feed_id AND q.business_date = :day AND q.batch_id = :batch
          AND q.record_key IS NOT NULL AND q.record_key <> '' AND q.rule_id NOT IN :untracked
          AND NOT EXISTS (SELECT 1 FROM {TABLE} r WHERE r.feed_id = :feed_id AND r.record_key = q.record_key
                          AND (r.closed_on IS NULL OR r.rejected_on = :day))
        GROUP BY q.record_key""").bindparams(untracked), {**params, **code_params, "agency": feed.agency}).rowcount
    fact = feed.target_table
    key = _key_text(conn, feed, "f")
    # A corrected record: held by the fact table from this batch (a correction arriving) and not rejected
    # again in it, or, for a rejection this batch opened, from a later day an earlier run loaded (an older
    # day's delivery loaded late).
    closed = conn.execute(sa.text(f"""
        UPDATE {TABLE} SET closed_on = c.closed_on, closed_batch = c.closed_batch
        FROM (SELECT r.record_key, r.rejected_on, MIN(f.business_date) AS closed_on, MIN(f.batch_id) AS closed_batch
              FROM {TABLE} r JOIN "{fact}" f ON {key} = r.record_key AND f.business_date >= r.rejected_on
              WHERE r.feed_id = :feed_id AND r.closed_on IS NULL
                AND (f.batch_id = :loaded OR f.business_date > :day)  -- what the conditions below can match: not the whole history
                AND ((f.batch_id = :loaded
                      AND NOT EXISTS (SELECT 1 FROM quarantine q WHERE q.feed_id = :feed_id AND q.business_date = :day
                                      AND q.batch_id = :batch AND q.record_key = r.record_key AND q.rule_id NOT IN :untracked))
                     OR (r.rejected_batch = :batch AND f.business_date > :day))
              GROUP BY r.record_key, r.rejected_on) c
        WHERE {TABLE}.feed_id = :feed_id AND {TABLE}.record_key = c.record_key AND {TABLE}.rejected_on = c.rejected_on
          AND {TABLE}.closed_on IS NULL""").bindparams(untracked), params).rowcount
    return max(opened or 0, 0), max(closed or 0, 0)


@dataclass(frozen=True)
class Closure:
    """退回 / 已整改 / 未整改 of one group as of a date, and the mean working days a correction took."""

    returned: int = 0
    corrected: int = 0
    days_to_fix: float | None = None  # mean over the corrected; None when none was

    @property
    def open(self) -> int:
        return self.returned - self.corrected

    @property
    def rate(self) -> float | None:
        """整改闭环率 = 已整改 / 退回 (None when nothing was returned)."""
        return self.corrected / self.returned if self.returned else None


def closure(conn: sa.Connection, as_of: dt.date, by: tuple[str, ...] = ("agency", "district_code"),
            since: dt.date | None = None) -> dict[tuple, Closure]:
    """Closure per group of ``by`` (columns of ``rejection``: ``agency``, ``district_code``, ``feed_id``) as of ``as_of``:
    the rejections opened up to that date (from ``since`` on, if given) and those of them corrected by it."""
    if not sa.inspect(conn).has_table(TABLE):
        return {}
    cols = "".join(f"{c}, " for c in by)
    where = "rejected_on <= :as_of" + (" AND rejected_on >= :since" if since else "")
    rows = conn.execute(sa.text(f"""
        SELECT {cols}rejected_on, CASE WHEN closed_on <= :as_of THEN closed_on END AS closed, COUNT(*)
        FROM {TABLE} WHERE {where} GROUP BY {cols}rejected_on, CASE WHEN closed_on <= :as_of THEN closed_on END"""),
        {"as_of": as_of, "since": since}).all()
    acc: dict[tuple, list] = {}
    for row in rows:
        group, rejected_on, closed_on, n = tuple(row[:len(by)]), row[len(by)], row[len(by) + 1], row[len(by) + 2]
        a = acc.setdefault(group, [0, 0, 0])
        a[0] += n
        if closed_on is not None:
            a[1] += n
            a[2] += n * working_days_between(as_date(rejected_on), as_date(closed_on))
    return {g: Closure(returned=r, corrected=c, days_to_fix=(d / c if c else None)) for g, (r, c, d) in acc.items()}


