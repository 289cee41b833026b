"""Tianjin districts (GB/T 2260): current codes, legacy codes and the free-text names agencies
write instead (DOMAIN.md §2, C2)."""

from __future__ import annotations

from safety_hub.domain.text import to_halfwidth

DISTRICTS: dict[str, str] = {
    "120101": "和平区",
    "120102": "河东区",
    "120103": "河西区",
    "120104": "南开区",
    "120105": "河北区",
    "120106": "红桥区",
    "120110": "东丽区",
    "120111": "西青区",
    "120112": "津南区",
    "120113": "北辰区",
    "120114": "武清区",
    "120115": "宝坻区",
    "120116": "滨海新区",
    "120117": "宁河区",
    "120118": "静海区",
    "120119": "蓟州区",
}
LEGACY_DISTRICTS: dict[str, str] = {
    "120107": "120116",  # 塘沽区
    "120108": "120116",  # 汉沽区
    "120109": "120116",  # 大港区
    "120221": "120117",  # 宁河县
    "120222": "120114",  # 武清县
    "120223": "120118",  # 静海县
    "120224": "120115",  # 宝坻县
    "120225": "120119",  # 蓟县
}
# Free-text names agencies write instead of codes (C2), incl. non-GB/T 2260 areas.
_DISTRICT_NAMES: dict[str, str] = {
    **{name: code for code, name in DISTRICTS.items()},
    **{name.removesuffix("区"): code for code, name in DISTRICTS.items() if name != "滨海新区"},
    "滨海": "120116",
    "塘沽": "120116",
    "塘沽区": "120116",
    "汉沽": "120116",
    "汉沽区": "120116",
    "大港": "120116",
    "大港区": "120116",
    "保税区": "120116",
    "东疆": "120116",
    "东疆保税港区": "120116",
    "宁河县": "120117",
    "武清县": "120114",
    "静海县": "120118",
    "宝坻县": "120115",
    "蓟县": "120119",
}


def map_district(value: object) -> str | None:
    """C2: a current code, a legacy code or a free-text name -> current code, else None."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    text = to_halfwidth(str(value)).strip()
    if text.endswith(".0"):  # codes read as numbers from spreadsheets
        text = text[:-2]
    if text in DISTRICTS:
        return text
    if text in LEGACY_DISTRICTS:
        return LEGACY_DISTRICTS[text]
    return _DISTRICT_NAMES.get(text.removeprefix("天津市"))
