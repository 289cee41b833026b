"""The shared pool of enterprises that every agency reports on (by USCC)."""

from __future__ import annotations

import random
from dataclasses import dataclass

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


@dataclass(frozen=True)
class Enterprise:
    uscc: str
    name: str  # canonical registered name
    district_code: str
    industry_code: str
    sector: str

    def name_variant(self, rng: random.Random) -> str:
        """How an agency clerk might write the name (brackets, 有限责任公司)."""
        roll = rng.random()
        if roll < 0.15:
            return self.name.replace("有限公司", "有限责任公司")
        if roll < 0.25 and self.name.startswith("天津"):
            return self.name.replace("天津", "天津市", 1) if not self.name.startswith("天津市") else self.name.replace("天津市", "（天津）", 1)
        return self.name


def enterprise_pool(seed: int, size: int = 240) -> list[Enterprise]:
    """The same pool for every date of one seed; regions can be legacy codes (DOMAIN §1)."""
    rng = random.Random(f"{seed}:enterprises")
    regions = list(DISTRICTS) + list(LEGACY_DISTRICTS)
    pool: list[Enterprise] = []
    seen: set[str] = set()
    while len(pool) < size:
        district = rng.choice(list(DISTRICTS))
        region = district if rng.random() < 0.8 else rng.choice(regions)
        body = "".join(rng.choice(USCC_CHARSET[:10] + "ABCDEFGHJKLMNPQRTUWXY") for _ in range(8))
        uscc = make_uscc(rng.choice(_DEPT_TYPES), region, body)
        trade, industry, sector = rng.choice(_TRADES)
        name = f"天津{rng.choice(_PLACES)}{rng.choice(_CORES)}{trade}有限公司"
        if uscc in seen or any(e.name == name for e in pool):
            continue
        seen.add(uscc)
        pool.append(Enterprise(uscc, name, district, industry, sector))
    return pool
