"""交通运输委 (transport commission) datasets."""

from __future__ import annotations

import datetime as dt
import random

from safety_hub.domain.places import DISTRICTS
from safety_hub_dev.simulator.enterprises import Enterprise
from safety_hub_dev.simulator.spec import DatasetSpec, RuleDefect, SqliteTable, register, stamp

_PLATE_LETTERS = "ABCDEFGHJKLMNPQR"


def vehicles(rng: random.Random, day: dt.date, pool: list[Enterprise], n: int) -> list[dict]:
    carriers = [e for e in pool if e.sector == "危货运输"] or pool
    ordinal = day.toordinal()
    out = []
    for seq in range(1, n + 1):
        ent = rng.choice(carriers)
        serial = (ordinal % 100) * 1000 + seq
        issue = day - dt.timedelta(days=rng.randrange(30, 1500))
        out.append({
            "CPHM": f"津{_PLATE_LETTERS[ordinal % len(_PLATE_LETTERS)]}{serial:05d}",
            "HPYS": "黄色",
            "CLLX": rng.choice(["重型罐式货车", "重型厢式货车", "半挂牵引车", "中型罐式货车"]),
            "DLYSZH": f"津交运管字120{rng.randrange(100000000, 999999999)}",
            "YHTYDM": ent.uscc,
            "YHMC": ent.name_variant(rng, day),
            "XZQH": ent.district_code,
            "HDZZL": str(rng.choice([8000, 15000, 20000, 25000, 31000])),
            "FZRQ": issue.isoformat(),
            "YXQZ": (issue + dt.timedelta(days=365 * rng.choice([4, 6]))).isoformat(),
            "BSPC": f"TC-{day:%Y%m%d}",
            "GXSJ": stamp(day, rng),
        })
    return out



def _bad_plate(rng: random.Random, rec: dict, day: dt.date, partner: dict | None) -> bool:
    plate = rec["CPHM"]
    rec["CPHM"] = plate[0] + rng.choice("IOSTZ") + plate[2:]  # no such 津 issuing office
    return True


VEHICLE = register(DatasetSpec(
    feed_id="tc_dg_vehicle", build=vehicles, volume=80, delivery=SqliteTable("tc", "tc_agency.sqlite", "t_wxhy_cl"),
    key="CPHM", uscc="YHTYDM", name="YHMC", district="XZQH", batch="BSPC", updated="GXSJ",
    required=(("DLYSZH", "transport_cert_no"), ("HDZZL", "rated_load_kg"), ("YHMC", "org_name")),
    date_order=("FZRQ", "YXQZ", "cert_issue_date<=cert_expiry_date"),
    rule_defects=(RuleDefect("plate_invalid", "plate.format", _bad_plate),),
    optional=("HPYS", "CLLX", "FZRQ", "YXQZ", "BSPC"),
))
