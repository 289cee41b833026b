"""Shared pieces of the Chinese HTML reports: page style, headline cards, tables and
Plotly charts with the library inlined, so a report is one file that opens offline."""

from __future__ import annotations

import datetime as dt
import html

from safety_hub.config import settings

STYLE = """
 body { font-family: "Noto Sans CJK SC", "Microsoft YaHei", "PingFang SC", sans-serif; margin: 2rem; color: #222; }
 h1 { font-size: 1.6rem; }
 h2 { font-size: 1.25rem; margin-top: 2rem; border-left: 4px solid #c0392b; padding-left: .5rem; }
 .kpis { display: flex; gap: 1rem; flex-wrap: wrap; }
 .kpi { border: 1px solid #ddd; border-radius: 6px; padding: .8rem 1.2rem; min-width: 9rem; }
 .kpi b { display: block; font-size: 1.5rem; }
 .kpi small { color: #666; }
 table { border-collapse: collapse; margin-top: 1rem; }
 th, td { border: 1px solid #ccc; padding: .3rem .6rem; text-align: right; }
 th { background: #f4f4f4; text-align: center; }
 th:first-child, td:first-child, td.text { text-align: left; }
 .note { color: #666; font-size: .85rem; }
 .flag { display: inline-block; min-width: 1.6rem; text-align: center; border-radius: 3px; color: #fff; }
 .flag-红 { background: #c0392b; } .flag-黄 { background: #e6a817; color: #222; } .flag-绿 { background: #27ae60; }
 .warning { background: #fff4e5; border: 1px solid #e6a817; padding: .5rem 1rem; }
"""


def beijing_now() -> dt.datetime:
    return settings.beijing_now()


def page(title: str, body: str, head: str = "") -> str:
    """A whole HTML document (UTF-8, zh-CN) with the shared style."""
    return (f'<!DOCTYPE html>\n<html lang="zh-CN">\n<head>\n<meta charset="utf-8">\n<title>{html.escape(title)}</title>\n'
            f"<style>{STYLE}</style>\n{head}</head>\n<body>\n{body}\n</body>\n</html>\n")


def kpi_cards(items: list[tuple[str, object]] | list[tuple[str, object, str]]) -> str:
    """Headline figures as cards: (label, value[, small print])."""
    cards = []
    for item in items:
        label, value = item[0], item[1]
        small = f"<small>{html.escape(str(item[2]))}</small>" if len(item) > 2 and item[2] else ""
        cards.append(f'<div class="kpi">{html.escape(label)}<b>{html.escape(str(value))}</b>{small}</div>')
    return f'<div class="kpis">{"".join(cards)}</div>'


def flag(value: str | None) -> str:
    """A 红/黄/绿 progress flag as a coloured badge."""
    if value not in ("红", "黄", "绿"):
        return ""
    return f'<span class="flag flag-{value}">{value}</span>'


def flag_grade(value: str | None) -> str:
    """A 红/橙/黄/蓝 risk grade as a coloured badge."""
    colours = {"红": "#c0392b", "橙": "#e67e22", "黄": "#f1c40f", "蓝": "#2e86c1"}
    if value not in colours:
        return ""
    return f'<span class="flag" style="background: {colours[value]}">{value}</span>'


def table(headers: list[str], rows: list[list[object]], text_columns: set[int] = frozenset(), raw_columns: set[int] = frozenset()) -> str:
    """An escaped HTML table; ``raw_columns`` hold markup built here (flags), everything else is escaped."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for i, v in enumerate(row):
            text = v if i in raw_columns else html.escape("" if v is None else str(v))
            cls = ' class="text"' if i in text_columns else ""
            cells.append(f"<td{cls}>{text}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def plotly_script() -> str:
    """The Plotly library, inlined once per page (no network needed to open the report)."""
    from plotly.offline import get_plotlyjs

    return f'<script type="text/javascript">{get_plotlyjs()}</script>\n'


def chart(fig, div_id: str, include_js: bool = False) -> str:
    """A Plotly figure as a div; the library is inlined when ``include_js`` (else see ``plotly_script``)."""
    return fig.to_html(full_html=False, include_plotlyjs=bool(include_js), div_id=div_id, config={"displaylogo": False})
