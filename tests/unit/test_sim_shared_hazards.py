"""The HCC construction-site ledger reports some of the hazards the EMB ledger reports the same day."""

from __future__ import annotations

import datetime as dt
import re

from safety_hub.domain.uscc import normalise_uscc
from safety_hub.domain.dates import parse_date
from safety_hub.domain.text import to_halfwidth
from safety_hub_dev.simulator.datasets.hcc_hazard import emb_same_day
from safety_hub_dev.simulator.enterprises import enterprise_pool
from safety_hub_dev.simulator.generate import DEFAULT_SEED, generate_day
from safety_hub_dev.simulator.spec import SPECS

DAYS = [dt.date(2026, 11, 2), dt.date(2026, 11, 3), dt.date(2026, 11, 4)]


def _identity(uscc, description, found):
    return normalise_uscc(uscc), re.sub(r"\s+", "", to_halfwidth(description or "")), parse_date(found)


def test_about_one_in_ten_hcc_hazards_is_an_emb_hazard_of_the_same_day():
    shared = total = 0
    for day in DAYS:
        data = generate_day(day)
        emb = {_identity(r["tyshxydm"], r["yhms"], r["fxrq"]) for r in data.records["emb_hazard"]}
        hcc = [_identity(r["施工单位统一社会信用代码"], r["隐患描述"], r["检查日期"]) for r in data.records["hcc_hazard"]]
        shared += sum(i in emb for i in hcc)
        total += len(hcc)
    assert 0.05 <= shared / total <= 0.2, (shared, total)


def test_shared_hazards_come_from_the_emb_records_delivered_that_day():
    day = DAYS[0]
    data = generate_day(day)
    defective = {d["key"] for d in data.truth["feeds"]["emb_hazard"]["defects"]}
    delivered = {r["yhbh"]: r for r in data.records["emb_hazard"]}
    rebuilt = emb_same_day(day, enterprise_pool(DEFAULT_SEED), 40)
    assert len(rebuilt) == 40
    optional = set(SPECS["emb_hazard"].optional)
    for r in rebuilt:  # the generator delivered these very records (unless it injected a defect), optional items maybe left empty
        assert r["yhbh"] in delivered
        if r["yhbh"] not in defective:
            got = delivered[r["yhbh"]]
            assert got.keys() == r.keys() and all(got[f] == r[f] or (got[f] is None and f in optional) for f in r), (got, r)
    assert emb_same_day(day, [], 10) == []
