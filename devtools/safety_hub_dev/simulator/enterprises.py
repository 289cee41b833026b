"""The shared pool of enterprises that every agency reports on (by USCC)."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, replace

from safety_hub.domain import DISTRICTS, LEGACY_DISTRICTS, USCC_CHARSET, make_uscc

_PLACES = ["津港", "海河", "滨城", "渤海", "津南", "东丽", "北辰", "宝坻", "武清", "蓟州", "静海", "临港", "泰达", "津东", "华北", "北方"]
_CORES = ["宏远", "鑫源", "恒通", "永安", "瑞丰", "盛达", "华泰", "中联", "金桥", "润通", "安泰", "广利", "天成", "汇丰", "正大", "聚力"]
_TRADES = [
    ("化工", "C2614", "危化"),
    ("石油化工", "C2511", "危化"),
    ("燃气", "D4511", "燃气"),
    ("建筑工程", "E4710", "建筑"),
    ("建设集团", "E4811", "建筑"),
    ("物流", "G5435", "危货运输"),
    ("危险品运输", "G5435", "危货运输"),
    ("机械制造", "C3411", "工贸"),
    ("金属制品", "C3311", "工贸"),
    ("食品", "C1391", "工贸"),
    ("钢铁", "C3120", "金属冶炼"),
    ("仓储", "G5942", "危化"),
]
_DEPT_TYPES = ["91", "91", "91", "92", "12", "52"]


# A few enterprises change their registered name inside the simulated window (2 to 4 November
# 2026, the e2e days), like ``_leaves_registry_on`` in the EMB registry: the same ones per seed.
RENAMES = 4
_RENAME_DAYS = (dt.date(2026, 11, 3), dt.date(2026, 11, 4))


@dataclass(frozen=True)
class Enterprise:
    uscc: str
    name: str  # registered name (the current one, after any rename)
    district_code: str
    industry_code: str
    sector: str
    former_name: str | None = None  # 曾用名: the registered name before ``renamed_on``
    renamed_on: dt.date | None = None

    def name_on(self, day: dt.date) -> str:
        """The registered name on ``day`` (the former name before a rename)."""
        if self.former_name and self.renamed_on and day < self.renamed_on:
            return self.former_name
        return self.name

    def name_variant(self, rng: random.Random, day: dt.date) -> str:
        """How an agency clerk might write the name on ``day`` (brackets, 有限责任公司)."""
        name = self.name_on(day)
        roll = rng.random()
        if roll < 0.15:
            return name.replace("有限公司", "有限责任公司")
        if roll < 0.25 and name.startswith("天津"):
            return name.replace("天津", "天津市", 1) if not name.startswith("天津市") else name.replace("天津市", "（天津）", 1)
        return name


# First USCC of each pool built -> its seed: a dataset that reports what another agency
# reported that day rebuilds that agency's records from the same seed (``pool_seed``).
_POOL_SEEDS: dict[str, int] = {}


def pool_seed(pool: list[Enterprise]) -> int | None:
    """The seed ``pool`` was built from by ``enterprise_pool``, or None for a hand-made pool."""
    return _POOL_SEEDS.get(pool[0].uscc) if pool else None


def enterprise_pool(seed: int, size: int = 240) -> list[Enterprise]:
    """The same pool for every date of one seed; regions can be legacy codes (DOMAIN §1)."""
    rng = random.Random(f"{seed}:enterprises")
    regions = list(DISTRICTS) + list(LEGACY_DISTRICTS)
    pool: list[Enterprise] = []
    seen: set[str] = set()
    names: set[str] = set()
    while len(pool) < size:
        district = rng.choice(list(DISTRICTS))
        region = district if rng.random() < 0.8 else rng.choice(regions)
        body = "".join(rng.choice(USCC_CHARSET[:10] + "ABCDEFGHJKLMNPQRTUWXY") for _ in range(8))
        uscc = make_uscc(rng.choice(_DEPT_TYPES), region, body)
        trade, industry, sector = rng.choice(_TRADES)
        name = f"天津{rng.choice(_PLACES)}{rng.choice(_CORES)}{trade}有限公司"
        if uscc in seen or name in names:
            continue
        seen.add(uscc)
        names.add(name)
        pool.append(Enterprise(uscc, name, district, industry, sector))
    pool = _with_renames(seed, pool)
    _POOL_SEEDS[pool[0].uscc] = seed
    return pool


def _with_renames(seed: int, pool: list[Enterprise]) -> list[Enterprise]:
    """``RENAMES`` enterprises take a new registered name on a day of ``_RENAME_DAYS`` (own rng: the pool is unchanged)."""
    rng = random.Random(f"{seed}:renames")
    taken = {e.name for e in pool}
    for idx in sorted(rng.sample(range(len(pool)), RENAMES)):
        ent = pool[idx]
        trade = next(t for t, industry, _ in _TRADES if industry == ent.industry_code and ent.name.endswith(f"{t}有限公司"))
        while True:
            new = f"天津{rng.choice(_PLACES)}{rng.choice(_CORES)}{trade}有限公司"
            if new not in taken:
                break
        taken.add(new)
        pool[idx] = replace(ent, name=new, former_name=ent.name, renamed_on=rng.choice(_RENAME_DAYS))
    return pool


def renames(pool: list[Enterprise]) -> list[dict]:
    """The truth about renames: who, from what to what, and from which day."""
    return [{"uscc": e.uscc, "former_name": e.former_name, "name": e.name, "renamed_on": e.renamed_on.isoformat()}
            for e in pool if e.former_name and e.renamed_on]
