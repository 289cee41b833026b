"""The Data Docs pages as the Feed health page serves them: static, offline, no script.

GX's pages load Bootstrap, jQuery, bootstrap-table, Vega and Font Awesome from public CDNs
(unpinned, fetched by whoever opens a page) and lay themselves out with them. Served
under ``Content-Security-Policy: sandbox`` (``health_page``) no script would run anyway,
so ``rewrite_page`` re-serialises every page GX built, with the standard library's HTML
parser (``html.parser``; no HTML library is installed with the stack), keeping only:

* elements other than ``script``, ``style``, ``iframe``/``frame``/``object``/``embed``,
  ``svg``/``math``, ``template``, ``noscript`` and form controls (dropped with their
  content), ``link``, ``base`` and ``meta`` other than charset/viewport (dropped);
* attributes other than event handlers (``on…``), ``srcdoc``/``srcset``, URLs that are not
  relative paths in the site (a scheme such as ``https:``/``javascript:``/``data:``, ``//host``,
  or ``/path`` on Airflow's origin) and ``style`` attributes reaching for a URL;
* text, escaped again (the parser unescapes it); comments and other declarations go.

Then it inlines ``STYLE``, a small stylesheet of our own (tables, headers, pass/fail
icons in place of Font Awesome's). ``render_index`` writes the site's index page from a
Jinja2 template (autoescaped): GX's index builds its list with bootstrap-table's script.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from html.parser import HTMLParser
from pathlib import Path

from safety_hub.config import settings

STYLE = """
body { font-family: "Noto Sans CJK SC", "Microsoft YaHei", "Helvetica Neue", Arial, sans-serif; margin: 1rem 1.4rem;
       color: #1f2933; font-size: 14px; line-height: 1.45; }
a { color: #1d4ed8; }
h1 { font-size: 1.35rem; } h2 { font-size: 1.15rem; margin-top: 1.6rem; } h3, h4, h5 { font-size: 1rem; margin: .3rem 0; }
table { border-collapse: collapse; margin: .4rem 0; max-width: 100%; }
th, td { border: 1px solid #d9e2ec; padding: .25rem .5rem; text-align: left; vertical-align: top; }
th { background: #f0f4f8; font-weight: 600; }
thead[hidden] { display: none; }
ul.nav, ul.breadcrumb, ol.breadcrumb { list-style: none; padding-left: 0; }
.nav-item, .breadcrumb-item { display: inline-block; margin-right: .8rem; }
.ge-section { margin-bottom: 1rem; }
.alert, .alert-secondary, .card-header { background: #f0f4f8; padding: .4rem .6rem; margin-top: 1rem; border-left: 4px solid #9aa5b1; }
.card { border: 1px solid #d9e2ec; margin: .6rem 0; padding: .3rem .6rem; }
.badge { display: inline-block; padding: 0 .35rem; border-radius: .25rem; background: #e4e7eb; font-size: .8rem; }
.badge-warning { background: #fde68a; } .badge-info, .badge-primary { background: #dbeafe; }
.text-success, .fa-check-circle, .fa-check { color: #047857; }
.text-danger, .fa-times, .fa-times-circle, .fa-exclamation-triangle { color: #b91c1c; }
.fas, .far, .fa { font-style: normal; }
.fa-check-circle::before, .fa-check::before { content: "\\2714"; }
.fa-times::before, .fa-times-circle::before { content: "\\2716"; }
.fa-exclamation-triangle::before { content: "\\26A0"; }
.cooltip .top, .cooltip .bottom, .cooltip .left, .cooltip .right { display: none; }
.show-scrollbars { max-height: 24rem; overflow: auto; }
pre, code { white-space: pre-wrap; word-break: break-word; }
p.sh-note { color: #52606d; font-size: .85rem; }
tr.failed td.result { color: #b91c1c; font-weight: 600; }
tr.passed td.result { color: #047857; }
"""

# Dropped with everything inside them.
_DROP_WITH_CONTENT = frozenset({
    "script", "style", "iframe", "frame", "frameset", "object", "applet", "noscript", "template", "svg", "math",
    "button", "select", "textarea", "noembed", "noframes", "xmp", "plaintext",
})
# Dropped, their content kept (the void ones have none).
_DROP_TAG = frozenset({"link", "base", "embed", "input", "form", "param", "source", "track", "portal", "dialog"})
_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr"})
_URL_ATTRS = frozenset({"href", "src", "action", "formaction", "xlink:href", "poster", "background", "data", "cite",
                        "longdesc", "manifest", "ping", "codebase", "lowsrc", "dynsrc", "usemap", "icon", "profile"})
_ALWAYS_DROPPED_ATTRS = frozenset({"srcdoc", "srcset", "imagesrcset", "http-equiv", "integrity", "crossorigin"})
_ATTR_NAME = re.compile(r"^[A-Za-z_][-A-Za-z0-9_.:]*$")
_TAG_NAME = re.compile(r"^[a-z][a-z0-9-]*$")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
_IGNORED_IN_URL = re.compile(r"[\x00-\x20\x7f]")  # browsers skip these around and inside a scheme


def local_url(value: str) -> bool:
    """A relative path inside the site (``../x.html``, ``#section-2``): no scheme, no host, not rooted."""
    v = _IGNORED_IN_URL.sub("", html.unescape(value))
    return not (_SCHEME.match(v) or v.startswith(("/", "\\")))


def _keep_attr(tag: str, name: str, value: str | None) -> bool:
    name = name.lower()
    if not _ATTR_NAME.match(name) or name.startswith("on") or name in _ALWAYS_DROPPED_ATTRS:
        return False
    if value is None:
        return True
    if name in _URL_ATTRS:
        return local_url(value)
    if name == "style":
        v = _IGNORED_IN_URL.sub("", value.lower())
        return not any(s in v for s in ("url(", "image-set(", "expression(", "@import", "\\"))
    return True


class _Rewriter(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out: list[str] = ["<!DOCTYPE html>"]
        self._skip: str | None = None  # the element being dropped with its content
        self._depth = 0
        self._styled = False

    def _start(self, tag: str, attrs, closed: bool) -> None:
        if self._skip is not None:
            if tag == self._skip and not closed:
                self._depth += 1
            return
        if tag in _DROP_WITH_CONTENT:
            if not closed and tag not in _VOID:
                self._skip, self._depth = tag, 1
            return
        if tag in _DROP_TAG or not _TAG_NAME.match(tag):
            return
        if tag == "meta" and not any(k in ("charset", "name") for k, _ in attrs):
            return
        if tag == "meta" and any(k == "name" and (v or "").lower() not in ("viewport",) for k, v in attrs):
            return
        attrs = [(k.lower(), v) for k, v in attrs if _keep_attr(tag, k, v)]
        if tag == "img" and not any(k == "src" for k, _ in attrs):  # GX's logo, from its web assets
            return
        kept = "".join(f" {k}" if v is None else f' {k}="{html.escape(v, quote=True)}"' for k, v in attrs)
        self.out.append(f"<{tag}{kept}{' /' if closed and tag in _VOID else ''}>")
        if tag == "head" and not self._styled:
            self.out.append(f'<meta name="generator" content="safety-hub data docs (static, no script)"><style>{STYLE}</style>')
            self._styled = True

    def handle_starttag(self, tag, attrs):
        self._start(tag, attrs, closed=False)

    def handle_startendtag(self, tag, attrs):
        self._start(tag, attrs, closed=True)

    def handle_endtag(self, tag):
        if self._skip is not None:
            if tag == self._skip:
                self._depth -= 1
                if self._depth == 0:
                    self._skip = None
            return
        if tag in _DROP_WITH_CONTENT or tag in _DROP_TAG or tag in _VOID or not _TAG_NAME.match(tag):
            return
        self.out.append(f"</{tag}>")

    def handle_data(self, data):
        if self._skip is None:
            self.out.append(html.escape(data, quote=False))

    # comments, <!DOCTYPE> (written once above), <![CDATA[...]]>, <?...>: dropped
    def handle_comment(self, data):
        pass

    def handle_decl(self, decl):
        pass

    def unknown_decl(self, data):
        pass

    def handle_pi(self, data):
        pass


def rewrite_page(text: str) -> str:
    """A Data Docs page without script, remote reference, event handler or live form, with our stylesheet."""
    parser = _Rewriter()
    parser.feed(text)
    parser.close()
    out = "".join(parser.out)
    if not parser._styled:  # no <head>: put the stylesheet first
        out = out.replace("<!DOCTYPE html>", f"<!DOCTYPE html><style>{STYLE}</style>", 1)
    return out


# --- the index -------------------------------------------------------------------------------

def _feed_titles() -> dict[str, str]:
    from safety_hub.config.registry import load_registry

    try:
        return {f: feed.title for f, feed in load_registry().items()}
    except Exception:  # an unreadable registry must not stop the docs
        return {}


def _beijing(run_time: str) -> str:
    """GX's run time (``20261202T145653.466916Z``) in Beijing time, to the minute."""
    try:
        t = dt.datetime.strptime(run_time, "%Y%m%dT%H%M%S.%fZ").replace(tzinfo=dt.timezone.utc)
    except ValueError:
        return run_time
    from safety_hub.config.settings import beijing_time

    return beijing_time(t, label=False)  # the column header names the zone


def render_index(site: Path, entries: list[dict]) -> str:
    """The site's index: per feed, its suite page and every validation result page, newest business date first.

    ``entries``: ``docs._stored_results``'s dicts (feed_id, batch, run_name, run_time, success,
    evaluated, successful, page: relative to ``site``).
    """
    from jinja2 import Environment, FileSystemLoader
    from markupsafe import Markup

    titles = _feed_titles()
    feeds: dict[str, dict] = {}
    for e in entries:
        feeds.setdefault(e["feed_id"], {"feed_id": e["feed_id"], "suite": e["suite"], "results": []})["results"].append(
            {**e, "business_date": e["batch"].removeprefix(e["feed_id"] + "_"), "validated_at": _beijing(e["run_time"])})
    for suite_page in sorted((site / "expectations").glob("*.html")) if (site / "expectations").is_dir() else []:
        suite = suite_page.stem
        feeds.setdefault(suite.removesuffix("_suite"), {"feed_id": suite.removesuffix("_suite"), "suite": suite, "results": []})
    listed = []
    for feed_id in sorted(feeds):
        f = feeds[feed_id]
        f["title"] = titles.get(feed_id, "")
        f["suite_page"] = f"expectations/{f['suite']}.html" if (site / "expectations" / f"{f['suite']}.html").is_file() else None
        f["results"].sort(key=lambda r: (r["business_date"], r["run_time"]), reverse=True)
        listed.append(f)
    env = Environment(loader=FileSystemLoader(settings.PACKAGE_DIR / "templates"), autoescape=True, keep_trailing_newline=True)
    return env.get_template("data_docs_index.html").render(feeds=listed, style=Markup(STYLE))  # our constant
