"""Industries (GB/T 4754-2017) and their work-safety supervision sectors (DOMAIN.md §5)."""

from __future__ import annotations

from safety_hub.domain.text import to_halfwidth

# Longest prefix wins: C2672 (fireworks) inside C26 (chemicals), F5265 (fuel retail) inside F.
_SECTOR_PREFIXES: dict[str, str] = {
    **{p: "危化" for p in ("C25", "C26", "F5265", "F5266", "G5941", "G5942", "G5949")},
    **{f"B{n:02d}": "非煤矿山" for n in range(7, 11)},
    "C31": "金属冶炼", "C32": "金属冶炼",
    "C2672": "烟花爆竹",
    **{f"C{n}": "工贸" for n in (*range(13, 25), 30, *range(33, 41))}, "F": "工贸",
    **{f"E{n}": "建筑" for n in range(47, 51)},
    "G5435": "危货运输",
    **{f"D{n}": "燃气" for n in (4511, 4512, 4513)},
    "A0421": "渔业", "A0422": "渔业",
    "G53": "铁路",
}
# Every sector ``industry_sector`` can return, in first-listed order.
INDUSTRY_SECTORS: tuple[str, ...] = tuple(dict.fromkeys(_SECTOR_PREFIXES.values()))


def industry_sector(code: object) -> str | None:
    """The supervision sector of a GB/T 4754 code (``C2614`` -> 危化), or None."""
    if code is None or (isinstance(code, float) and code != code):
        return None
    text = to_halfwidth(str(code)).strip().upper()
    for n in range(len(text), 0, -1):
        if text[:n] in _SECTOR_PREFIXES:
            return _SECTOR_PREFIXES[text[:n]]
    return None
