"""Text hygiene and enterprise names: control and zero-width characters, half-width forms,
names as displayed (``normalise_org_name``) and as compared (``canonical_org_name``). DOMAIN.md C3."""

from __future__ import annotations

import re
import unicodedata

# Text hygiene (one rule for every feed; safety_hub.quality.normalise applies it to every column
# typed from text): control characters (Unicode Cc: C0, DEL, C1; NUL included) and zero-width
# characters (U+200B-U+200D, U+2060, U+FEFF) are removed; a run of tab, CR and LF becomes one
# space unless the column is multiline, where they stay.
_REMOVED_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200d\u2060\ufeff]")
_LINE_BREAKS = re.compile("[\t\n\r]+")


def clean_text(text: str, multiline: bool = False) -> str:
    """``text`` under the text hygiene rule (see above): no control or zero-width characters;
    tab/CR/LF runs become one space unless ``multiline``. Does not trim."""
    text = _REMOVED_CHARS.sub("", text)
    return text if multiline else _LINE_BREAKS.sub(" ", text)


def to_halfwidth(text: str) -> str:
    """Full-width ASCII (Ａ１（) and the ideographic space become half-width."""
    return unicodedata.normalize("NFKC", text) if text else text


def normalise_org_name(name: object) -> str | None:
    """Half-width brackets and trimming, so name variants compare equal (C3); no control or
    zero-width characters (``clean_text``: ``天津\u200b宏远`` is ``天津宏远``)."""
    if name is None or (isinstance(name, float) and name != name):
        return None
    text = to_halfwidth(clean_text(str(name))).strip()
    return text or None


# --- Enterprise names for comparison (DOMAIN.md C3) ----------------------------------------
# The same rules run in SQL over the warehouse (warehouse/build.py, canonical_name_sql), so keep them as
# plain replacements and prefixes: every engine can apply REPLACE and a prefix test.
ORG_NAME_REPLACEMENTS: tuple[tuple[str, str], ...] = (
    (" ", ""),  # after half-width conversion the ideographic space is a plain space
    ("[", "("), ("]", ")"), ("〔", "("), ("〕", ")"), ("【", "("), ("】", ")"),
    ("有限责任公司", "有限公司"),
)
ORG_NAME_PREFIXES: tuple[tuple[str, str], ...] = (("天津市", "天津"), ("(天津)", "天津"))


def canonical_org_name(name: object) -> str | None:
    """The name as compared across agencies and days, not as displayed.

    Half-width, no spaces, round brackets, 有限责任公司 → 有限公司 and a leading
    天津市 / （天津） → 天津: ``（天津）宏远化工有限责任公司`` and ``天津宏远化工有限公司``
    are one name; a rename (another name) is not. None for blanks.
    """
    text = normalise_org_name(name)
    if text is None:
        return None
    for old, new in ORG_NAME_REPLACEMENTS:
        text = text.replace(old, new)
    for prefix, new in ORG_NAME_PREFIXES:
        if text.startswith(prefix):
            text = new + text[len(prefix):]
            break
    return text or None
