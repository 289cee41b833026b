"""Reporting units outside the shared enterprise pool, derived deterministically from it.

Most datasets report on enterprises of ``enterprises.enterprise_pool``; a few
agencies also report on units the pool does not model (railway track
maintenance units, fishing co-operatives). They are built here from the pool,
so they are the same for every day of one seed and carry valid USCCs.
"""

from __future__ import annotations

import functools
import random

from safety_hub.domain import DISTRICTS, make_uscc
from safety_hub_dev.simulator.enterprises import Enterprise

_BODY_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def _body(rng: random.Random) -> str:
    return "".join(rng.choice(_BODY_CHARS) for _ in range(8))


@functools.lru_cache(maxsize=8)
def _fishery_units(seed_key: str) -> tuple[Enterprise, ...]:
    rng = random.Random(f"{seed_key}:fishery-units")
    ports = [("汉沽", "120116"), ("塘沽", "120116"), ("大港", "120116"), ("北塘", "120116"), ("宁河", "120117"), ("津南", "120112")]
    cores = ["海丰", "渔港", "兴海", "福顺", "蓝海", "丰收", "远洋", "海利", "祥和", "鑫海", "顺达", "海旺"]
    units: list[Enterprise] = []
    names: set[str] = set()
    while len(units) < 18:
        place, district = rng.choice(ports)
        core = rng.choice(cores)
        if rng.random() < 0.6:  # 农民专业合作社: department 9, type 3
            name, dept = f"天津市{'滨海新区' if district == '120116' else ''}{place}{core}渔业专业合作社", "93"
        else:
            name, dept = f"天津{place}{core}水产有限公司", "91"
        if name in names:
            continue
        names.add(name)
        units.append(Enterprise(make_uscc(dept, district, _body(rng)), name, district, "A0421", "渔业"))
    return tuple(units)


def fishery_units(pool: list[Enterprise]) -> list[Enterprise]:
    """Fishing co-operatives and fishery companies (船东单位), stable for one pool."""
    return list(_fishery_units(pool[0].uscc))


@functools.lru_cache(maxsize=8)
def _railway_units(seed_key: str) -> tuple[Enterprise, ...]:
    rng = random.Random(f"{seed_key}:railway-units")
    units = [("天津工务段", "120105"), ("天津桥工段", "120102"), ("天津电务段", "120105"), ("天津供电段", "120113"), ("天津高铁工务段", "120110")]
    return tuple(
        Enterprise(make_uscc("91", district, _body(rng)), f"中国铁路北京局集团有限公司{name}", district, "G5331", "铁路")
        for name, district in units
    )


def railway_units(pool: list[Enterprise]) -> list[Enterprise]:
    """Railway maintenance units (铁路站段) that name the railway-side segment chief."""
    return list(_railway_units(pool[0].uscc))


# Trades of the insurer's other policyholders: sectors where 安责险 is mandatory (DOMAIN.md §7).
_INSURED_TRADES = [("化工", "C2614", "危化"), ("石油化工", "C2511", "危化"), ("仓储", "G5942", "危化"), ("建筑工程", "E4710", "建筑"),
                   ("建设工程", "E4811", "建筑"), ("物流", "G5435", "危货运输"), ("危险品运输", "G5435", "危货运输"), ("钢铁", "C3120", "金属冶炼")]
_INSURED_PLACES = ["津港", "海河", "滨城", "渤海", "津南", "东丽", "北辰", "宝坻", "武清", "蓟州", "静海", "临港", "泰达", "津东", "华北", "北方",
                   "西青", "宁河", "汉沽", "大港"]
_NAME_CHARS = "宏鑫恒永瑞盛华中金润安广天汇正聚远通达泰丰源利兴隆昌荣德信诚和顺祥凯嘉佳"


@functools.lru_cache(maxsize=8)
def _insured_units(seed_key: str, count: int, taken: frozenset[str]) -> tuple[Enterprise, ...]:
    rng = random.Random(f"{seed_key}:insured-units:{count}")
    districts = sorted(DISTRICTS)
    units: list[Enterprise] = []
    names, usccs = set(taken), set(taken)  # the pool's names and codes are taken
    while len(units) < count:
        trade, industry, sector = rng.choice(_INSURED_TRADES)
        name = f"天津{rng.choice(_INSURED_PLACES)}{rng.choice(_NAME_CHARS)}{rng.choice(_NAME_CHARS)}{trade}有限公司"
        district = rng.choice(districts)
        uscc = make_uscc("91", district, _body(rng))
        if name in names or uscc in usccs:
            continue
        names.add(name)
        usccs.add(uscc)
        units.append(Enterprise(uscc, name, district, industry, sector))
    return tuple(units)


def insured_units(pool: list[Enterprise], count: int) -> list[Enterprise]:
    """The insurer's policyholders the shared pool does not model (most of a city's 安责险 book), stable for one pool."""
    return list(_insured_units(pool[0].uscc, count, frozenset(t for e in pool for t in (e.uscc, e.name, e.former_name) if t)))
