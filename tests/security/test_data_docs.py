"""Issue 15, finding 1 (stored script injection through Data Docs) and the Data Docs part of
finding 3 (personal values masked).

A real GX result of 燃气用户安全检查 (``hcc_gas_inspection``) whose rejected values carry
script (``<script>``, ``<img onerror>``) and personal values an agency forgot to mask (a
customer's name and phone) is stored and built into a site, beside a result stored raw the
way results were stored before the fix. Then:

* the built pages reference no remote URL, carry no script, event handler or live markup
  from the data, and show the personal values masked; so do the stored results;
* the Feed health app serves them with the sandboxing CSP on every response, and nothing
  outside the site (or of another type);
* headless Chromium, opening the pages through a local server that sends the same headers
  (and a proxy that refuses everything off the machine), runs no script and requests
  nothing but the page itself, even for a page GX wrote raw.
"""

from __future__ import annotations

import datetime as dt
import html
import http.server
import json
import threading
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

FEED = "hcc_gas_inspection"
DAY = dt.date(2026, 10, 1)
LEGACY_DAY = dt.date(2026, 10, 2)
PAYLOADS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<script>document.title='pwned';new Image().src='/pwned-script'</script>",
    "<img src=/pwned-img onerror=\"document.title='pwned'\">",
]
PHONE, NAME = "13812345678", "张三丰"  # unmasked: the feed's rules reject them (customer_*.masked)
PHONE_MASKED, NAME_MASKED = "＊＊＊＊5678", "张＊＊"
GOOD = dict(YHBH="C0", RQQY_TYDM="91120000MA05KXXX1X", RQQY_MC="天津燃气有限公司", XZQH="120101", YHLX="居民", YHXM="张**",
            LXDH="138****5678", YHDZ="和平区**路", SCJCRQ="2026-01-01", JCRQ="2026-10-01", YHX="软管超期", ZGZT="待整改",
            ZGRQ="", JCRY="李**", BSPC="1", GXSJ="2026-10-01 10:00:00")


def records() -> pd.DataFrame:
    rows = [dict(GOOD, YHBH=f"C{i}") for i in range(len(PAYLOADS) + 3)]
    for row, payload in zip(rows, PAYLOADS):
        row["YHX"] = payload
    rows[len(PAYLOADS)]["LXDH"] = PHONE
    rows[len(PAYLOADS) + 1]["YHXM"] = NAME
    rows[len(PAYLOADS) + 2]["YHX"] = "软管超期&无报警器"
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The Data Docs site of one sanitised result and one result stored raw (before the fix)."""
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier, ValidationResultIdentifier

    from safety_hub.quality import docs
    from safety_hub.quality.validate import check_batch
    from safety_hub.config.registry import get_feed

    home = tmp_path_factory.mktemp("data-docs-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SAFETY_HUB_HOME", str(home))
        feed = get_feed(FEED)
        check = check_batch(feed, records(), DAY)
        assert check.failures, "the payloads and personal values are rejected, so GX reports them"
        docs.store_result(FEED, check.suite, check.gx_result, "batch-1", DAY)
        legacy = check_batch(feed, records(), LEGACY_DAY)
        ctx = docs._context()
        ctx.validation_results_store.set(ValidationResultIdentifier(  # as store_result stored results before
            ExpectationSuiteIdentifier(name=legacy.suite.name),
            RunIdentifier(run_name="batch-legacy", run_time=dt.datetime.now(dt.timezone.utc)),
            f"{FEED}_{LEGACY_DAY.isoformat()}"), legacy.gx_result)
        index = docs.build_docs()
        (home / "reports" / "outside.html").write_text("<p>not in the site</p>", encoding="utf-8")
        yield index.parent


def result_pages(site: Path) -> list[Path]:
    return sorted((site / "validations").rglob("*.html"))


class Elements(HTMLParser):
    """Every element and attribute of a page, as a browser's tokenizer sees them."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


# --- (a) the built pages -----------------------------------------------------------------------

def test_built_pages_reference_nothing_remote_and_run_nothing(site):
    pages = sorted(site.rglob("*.html"))
    assert len(result_pages(site)) == 2 and (site / "index.html") in pages and (site / "expectations" / f"{FEED}_suite.html") in pages
    for page in pages:
        text = page.read_text(encoding="utf-8")
        elements = Elements(text).tags
        tags = {t for t, _ in elements}
        assert not tags & {"script", "link", "iframe", "object", "embed", "base", "form", "svg"}, (page, tags)
        for tag, attrs in elements:
            assert not [a for a in attrs if a.startswith("on")], (page, tag, attrs)
            for name in ("src", "href", "action", "srcset", "poster", "data"):
                value = (attrs.get(name) or "").strip().lower()
                assert not value.startswith(("http:", "https:", "//", "/", "javascript:", "data:")), (page, tag, attrs)
            assert "url(" not in (attrs.get("style") or ""), (page, tag, attrs)
        assert "http://" not in text and "https://" not in text, page
        assert "<script" not in text.lower(), page


@pytest.mark.parametrize("which", ["sanitised", "stored raw before the fix"])
def test_agency_values_show_as_text_and_personal_values_masked(site, which):
    page = next(p for p in result_pages(site) if (LEGACY_DAY if which.startswith("stored raw") else DAY).isoformat() in p.name)
    text = page.read_text(encoding="utf-8")
    for payload in PAYLOADS:  # escaped once: the browser shows the payload as text
        assert html.escape(payload, quote=False) in text, payload
    assert "软管超期&amp;无报警器" in text, "& escaped once, not twice"
    assert PHONE not in text and NAME not in text
    assert PHONE_MASKED in text and NAME_MASKED in text


def test_stored_results_hold_escaped_and_masked_values(site):
    from safety_hub.quality.docs import SANITISED

    stored = sorted((site.parents[1] / "data" / "gx" / "uncommitted" / "validations").rglob("*.json"))
    assert len(stored) == 2
    for path in stored:
        text = path.read_text(encoding="utf-8")
        assert json.loads(text)["meta"][SANITISED] == 1, "the result stored raw is stored again, sanitised"
        assert "<script" not in text and "<img" not in text and PHONE not in text and NAME not in text, path


def test_the_index_lists_every_result_per_feed_and_date_without_script(site):
    text = (site / "index.html").read_text(encoding="utf-8")
    links = [a["href"] for t, a in Elements(text).tags if t == "a" and "href" in a]
    for page in result_pages(site):
        assert page.relative_to(site).as_posix() in links
    assert f"expectations/{FEED}_suite.html" in links
    assert "燃气用户安全检查" in text and DAY.isoformat() in text and LEGACY_DAY.isoformat() in text
    assert "<script" not in text and "http" not in text


def test_sanitise_body_masks_by_column_in_pairs_and_column_lists():
    from safety_hub.quality.docs import sanitise_body

    body = {"unexpected_list": [{"driver_cert": "120101199001011234", "escort_cert": "120101199001011234"}],
            "partial_unexpected_counts": [{"value": ["120101199001011234", "<b>x</b>"], "count": 2}],
            "partial_unexpected_index_list": [7, {"driver_cert": "120101199001011234", "plate": "津A12345"}],
            "unexpected_count": 2, "element_count": 9}
    out = sanitise_body(body, ["driver_cert", "escort_cert"], {"driver_cert", "escort_cert"})
    assert out["unexpected_list"] == [{"driver_cert": "＊＊＊＊1234", "escort_cert": "＊＊＊＊1234"}]
    assert out["partial_unexpected_counts"] == [{"value": ["＊＊＊＊1234", "&lt;＊＊"], "count": 2}], "masked, then escaped"
    assert out["partial_unexpected_index_list"] == [7, {"driver_cert": "＊＊＊＊1234", "plate": "津A12345"}]
    assert out["unexpected_count"] == 2 and out["element_count"] == 9
    pair = sanitise_body({"partial_unexpected_list": [("张三丰", "<i>"), ("李四", 5)], "partial_unexpected_counts": [{"value": ["张三丰", "<i>"], "count": 1}]},
                         ["owner", "note"], {"owner"})
    assert pair["partial_unexpected_list"] == [["张＊＊", "&lt;i&gt;"], ["李＊＊", 5]]
    assert pair["partial_unexpected_counts"] == [{"value": ["张＊＊", "&lt;i&gt;"], "count": 1}]
    single = sanitise_body({"partial_unexpected_list": ["<script>", None, 3], "observed_value": "a<b"}, ["description"], {"owner"})
    assert single == {"partial_unexpected_list": ["&lt;script&gt;", None, 3], "observed_value": "a&lt;b"}


def test_rewrite_drops_every_live_or_remote_part_of_a_hostile_page():
    from safety_hub.quality.docs_html import rewrite_page

    hostile = """<!doctype html><html><head><base href="https://evil.example/"><meta http-equiv="refresh" content="0;url=https://evil.example">
<link rel=stylesheet href=//evil.example/x.css><style>@import url(https://evil.example/y.css)</style>
<SCRIPT SRC="https://code.jquery.com/jquery.js"></SCRIPT><script>document.title='x'</script></head>
<body onload="alert(1)"><a href="javascript:alert(1)">j</a><a href=" jav&#x09;ascript:alert(1)">j2</a><a href="/api/v2/connections">api</a>
<a href="../index.html#feed-x">ok</a><img src="data:image/svg+xml,<svg onload=alert(1)>"><img src=https://evil.example/t.png>
<iframe srcdoc="<script>alert(1)</script>"></iframe><svg><script>alert(1)</script></svg><object data=x.swf></object>
<div style="background:url(https://evil.example/z)">styled</div><p title="a&quot; onmouseover=&quot;alert(1)">quoted</p>
<!--<script>alert(1)</script>--><form action="https://evil.example"><input name=q><button>go</button>kept</form>
<noscript><img src=https://evil.example/n.png></noscript><template><script>alert(1)</script></template>
<scr<script>ipt>alert(1)</script><math><mi xlink:href="javascript:alert(1)">m</mi></math>&lt;script&gt;as text&lt;/script&gt;</body></html>"""
    out = rewrite_page(hostile)
    elements = Elements(out).tags
    assert {t for t, _ in elements} <= {"html", "head", "meta", "style", "body", "a", "p", "div"}, {t for t, _ in elements}
    assert [a.get("href") for t, a in elements if t == "a"] == [None, None, None, "../index.html#feed-x"]
    assert all(not k.startswith("on") for _, attrs in elements for k in attrs)
    assert "evil.example" not in out and "javascript" not in out.lower() and "<script" not in out.lower()
    assert "&lt;script&gt;as text&lt;/script&gt;" in out and "kept" in out and "styled" in out
    assert 'title="a&quot; onmouseover=&quot;alert(1)"' in out, "attribute values stay one quoted value"
    assert rewrite_page(out) == out, "rewriting a rewritten page changes nothing"


# --- (b) the Feed health app serves the site isolated ------------------------------------------

@pytest.fixture(scope="module")
def client(site, airflow_db):
    """The Feed health app mounted at /feed-health as the API server mounts it, with a user's bearer token."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from airflow.api_fastapi.app import create_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from safety_hub.ops.health_page import URL_PREFIX, create_app

    token = create_auth_manager().generate_jwt(SimpleAuthManagerUser(username="admin", role="admin"))
    root = FastAPI()
    root.mount(URL_PREFIX, create_app())
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SAFETY_HUB_HOME", str(site.parents[1]))
        with TestClient(root, headers={"Authorization": f"Bearer {token}"}) as c:
            yield c


def assert_isolated(response) -> None:
    from safety_hub.ops.health_page import DATA_DOCS_CSP

    csp = response.headers.get("content-security-policy", "")
    assert csp == DATA_DOCS_CSP, (response.request.url, csp)
    directives = [d.strip().split() for d in csp.split(";")]
    assert ["sandbox"] in directives, "sandbox with no allow-scripts, no allow-same-origin"
    assert ["default-src", "'none'"] in directives
    assert response.headers.get("x-content-type-options") == "nosniff"
    assert response.headers.get("referrer-policy") == "no-referrer"


def test_every_data_docs_response_is_sandboxed(site, client):
    from safety_hub.ops.health_page import DATA_DOCS_TYPES

    served = [p for p in site.rglob("*") if p.is_file() and p.suffix in DATA_DOCS_TYPES]
    assert len(served) >= 4
    for path in served:
        r = client.get(f"/feed-health/data-docs/{path.relative_to(site).as_posix()}")
        assert r.status_code == 200, (path, r.status_code)
        assert r.headers["content-type"].split(";")[0] == DATA_DOCS_TYPES[path.suffix].split(";")[0]
        assert_isolated(r)
    assert client.get("/feed-health/data-docs/").text == (site / "index.html").read_text(encoding="utf-8")
    anonymous = client.get("/feed-health/data-docs/index.html", headers={"Authorization": ""})
    assert anonymous.status_code == 401
    assert_isolated(anonymous)


def test_nothing_outside_the_site_or_of_another_type_is_served(site, client):
    link = site / "static" / "linked.html"
    link.symlink_to(site.parents[0] / "outside.html")
    fonts = sorted((site / "static").rglob("*.otf"))
    try:
        for path in ["..%2Foutside.html", "%2e%2e%2foutside.html", "static/..%2F..%2Foutside.html", "static/linked.html", "nope.html",
                     "static", "static/images/favicon.ico", fonts[0].relative_to(site).as_posix() if fonts else "x.otf"]:
            r = client.get(f"/feed-health/data-docs/{path}")
            assert r.status_code == 404, (path, r.status_code)
            assert_isolated(r)
    finally:
        link.unlink()
    assert "content-security-policy" not in client.get("/feed-health/api/feeds").headers, "only the Data Docs are sandboxed"


# --- (c) headless Chromium ----------------------------------------------------------------------

class _Site(http.server.SimpleHTTPRequestHandler):
    """The site's files with the Feed health app's Data Docs headers and types; a log of requests."""

    requests: list[str] = []

    def do_GET(self):
        from safety_hub.ops.health_page import DATA_DOCS_HEADERS, DATA_DOCS_TYPES

        type(self).requests.append(self.path)
        target = (Path(self.directory) / self.path.split("?")[0].lstrip("/")).resolve()
        if not target.is_relative_to(Path(self.directory).resolve()) or not target.is_file() or target.suffix not in DATA_DOCS_TYPES:
            self.send_response(404)
            body = b"not found"
            content_type = "text/plain"
        else:
            self.send_response(200)
            body = target.read_bytes()
            content_type = DATA_DOCS_TYPES[target.suffix]
        for k, v in {**DATA_DOCS_HEADERS, "Content-Type": content_type, "Content-Length": str(len(body))}.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def served(site):
    raw = site / "validations" / "raw_gx_page.html"  # what GX wrote before the fix: CDN scripts and the payloads raw
    raw.write_text("<!DOCTYPE html><html><head><title>raw</title>"
                   '<script src="https://code.jquery.com/jquery-3.7.1.min.js"></script>'
                   '<link rel="stylesheet" href="https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css"/>'
                   "<script>document.title='pwned'</script></head><body><table><tr><td>" + "</td><td>".join(PAYLOADS) +
                   "</td></tr></table><img src=\"https://unpkg.com/x.png\" onerror=\"document.title='pwned'\"></body></html>",
                   encoding="utf-8")
    _Site.requests = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: _Site(*a, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        raw.unlink()


def test_chromium_runs_no_script_and_fetches_nothing_off_the_machine(site, served):
    from browser import chromium

    pages = [p.relative_to(site).as_posix() for p in result_pages(site)] + ["index.html", "validations/raw_gx_page.html"]
    seen: dict[str, dict] = {}
    # A proxy that refuses: anything not for this machine would fail, and is recorded either way.
    with chromium("--proxy-server=http://127.0.0.1:9") as browser:
        for rel in pages:
            page = browser.new_page()
            requests, failed, answered, dialogs, console = [], [], [], [], []
            page.on("request", lambda r, requests=requests: requests.append(r.url))
            page.on("requestfailed", lambda r, failed=failed: failed.append((r.url, r.failure)))
            page.on("response", lambda r, answered=answered: answered.append(r.url))
            page.on("dialog", lambda d, dialogs=dialogs: (dialogs.append(d.message), d.dismiss()))
            page.on("console", lambda m, console=console: console.append(m.text))
            page.goto(f"{served}/{rel}", wait_until="load")
            page.wait_for_timeout(300)
            seen[rel] = {"title": page.title(), "requests": requests, "dialogs": dialogs, "console": console, "failed": failed, "answered": answered,
                         "text": page.inner_text("body")}
            page.close()
        control = browser.new_page()  # the same raw page without the headers: its script does run
        control.set_content((site / "validations" / "raw_gx_page.html").read_text(encoding="utf-8"), wait_until="domcontentloaded")
        try:  # an onerror handler fires once its image has failed, after the document is parsed
            control.wait_for_function("document.title === 'pwned'", timeout=10_000)
        except Exception:
            pass
        assert control.title() == "pwned", "the payload is live: the checks below are not vacuous"
        control.close()
    for rel, s in seen.items():
        assert s["title"] != "pwned" and not s["dialogs"], (rel, s["title"], s["dialogs"])
        assert all(u.startswith(served + "/") for u in s["answered"]), (rel, s["answered"])
        off_machine = [u for u in s["requests"] if not u.startswith(served + "/")]
        assert sorted(off_machine) == sorted(u for u, why in s["failed"] if why == "csp"), (rel, off_machine, s["failed"])
    assert not any("pwned-script" in p for p in _Site.requests), _Site.requests
    raw = seen["validations/raw_gx_page.html"]  # what the headers alone do to a page GX wrote raw
    assert any("sandboxed" in c and "allow-scripts" in c for c in raw["console"]), raw["console"]
    assert "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css" in raw["requests"], "it tried, and CSP blocked it"
    for rel in pages[:2]:  # the rewritten pages: the payloads shown as text, nothing even tried and blocked
        assert "<script>alert(1)</script>" in seen[rel]["text"] and NAME_MASKED in seen[rel]["text"]
        assert PHONE not in seen[rel]["text"] and NAME not in seen[rel]["text"]
        assert seen[rel]["requests"] == [f"{served}/{rel}"], seen[rel]["requests"]
        assert not seen[rel]["console"], seen[rel]["console"]
    assert "燃气用户安全检查" in seen["index.html"]["text"]
