"""The Feed health page served by the real Airflow API server (plugin ``plugins/feed_health.py``)
over the session's warehouse and Airflow metadata DB: refused without a user, its figures equal
``feed_health()`` with the ingest DAGs' last runs read from Airflow (in the API server's process)
with one, and in headless Chromium (also inside the Airflow UI) a stale feed's row is red."""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import sqlalchemy as sa

from browser import chromium, record_console, screenshot_path
from airflow_api import ApiServer, api_server
from registry_copy import copy_registry, edit_feed
from safety_hub.ops.health import feed_health, last_runs, read_engine
from safety_hub.config.registry import load_registry
from safety_hub.ops.health_page import URL_PREFIX, _json_ready

pytestmark = pytest.mark.e2e
STALE_FEED = "emb_enforcement"  # its freshness limit is cut below the age of its data
FRESH_FOR_HOURS = 24 * 3650  # every other feed: the session's simulated November stays fresh


@dataclass
class Served:
    server: ApiServer
    warehouse_url: str
    backend: str
    hub_home: Path

    @property
    def page(self) -> str:
        return f"{self.server.url}{URL_PREFIX}/"

    @property
    def api(self) -> str:
        return f"{self.server.url}{URL_PREFIX}/api/feeds"


def feeds_with_a_stale_feed(target: Path) -> Path:
    """A copy of the registry where STALE_FEED expects new data every 0.36 s (stale whatever it loaded) and
    every other feed within ten years (fresh: freshness goes by the business date, the session's are in November)."""
    copy_registry(target)
    for path in target.glob("[!_]*.yaml"):
        hours = 0.0001 if path.stem == STALE_FEED else FRESH_FOR_HOURS
        edit_feed(path, lambda feed: feed.setdefault("validation", {}).update(fresh_within_hours=hours))
    return target


def warehouse_for_the_server(run, work: Path) -> str:
    """DuckDB admits one process per file when one of them writes: the server reads a copy."""
    if run.backend != "duckdb":
        return run.warehouse_url
    engine = run.engine()
    with engine.begin() as conn:
        conn.execute(sa.text("CHECKPOINT"))
    engine.dispose()
    copy = work / "warehouse.duckdb"
    shutil.copy(run.warehouse_url.removeprefix("duckdb:///"), copy)
    return f"duckdb:///{copy}"


@pytest.fixture(scope="module")
def served(run, tmp_path_factory):
    work = tmp_path_factory.mktemp(f"feed-health-{run.backend}")
    env = {"SAFETY_HUB_FEEDS_DIR": str(feeds_with_a_stale_feed(work / "feeds")),
           "SAFETY_HUB_WAREHOUSE_URL": warehouse_for_the_server(run, work),
           "SAFETY_HUB_HOME": str(run.hub_home)}
    with pytest.MonkeyPatch.context() as mp:  # this process computes the expected figures from the same registry and warehouse
        for name, value in env.items():
            mp.setenv(name, value)
        with api_server(work / "airflow", env) as server:
            yield Served(server, env["SAFETY_HUB_WAREHOUSE_URL"], run.backend, run.hub_home)


# --- over HTTP ---------------------------------------------------------------------------------

def test_without_a_user_the_api_refuses_and_the_page_sends_to_login(served):
    assert httpx.get(served.api).status_code == 401
    assert httpx.get(served.api, headers={"Authorization": "Bearer not-a-token"}).status_code == 403
    assert httpx.get(served.api, cookies={"_token": "not-a-token"}).status_code == 403
    assert httpx.get(f"{served.server.url}{URL_PREFIX}/data-docs/index.html").status_code == 401
    page = httpx.get(served.page, follow_redirects=False)
    assert page.status_code == 303
    location = urlsplit(page.headers["location"])
    assert location.path == "/auth/login" and parse_qs(location.query)["next"] == [served.page]
    assert "feed" not in page.text


def test_with_a_user_the_figures_are_feed_health(served):
    token = served.server.token()
    response = httpx.get(served.api, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    payload = response.json()
    now = dt.datetime.fromisoformat(payload["generated_at"])
    runs = last_runs([f"ingest_{f}" for f in load_registry()])  # what the server read, read here from the same metadata DB
    expected = {h.feed_id: _json_ready(asdict(h)) for h in feed_health(read_engine(served.warehouse_url), now=now, runs=runs)}
    got = {f["feed_id"]: f for f in payload["feeds"]}
    assert set(got) == set(expected) and len(got) >= 15
    for feed_id, figures in expected.items():
        assert {k: got[feed_id][k] for k in figures} == figures, feed_id
        assert got[feed_id]["dag_id"] == f"ingest_{feed_id}"
    assert payload["stale"] == [STALE_FEED], "every other feed loaded in this session, within its interval"
    assert payload["runs_error"] is None and payload["failed"] == sorted(f for f, h in expected.items() if h["status"] == "failed")
    for f in got.values():  # figures that can be wrong: every feed ran in Airflow, loaded rows, validated, with history
        assert f["last_run"] is not None and f["last_run"]["dag_id"] == f["dag_id"] and f["runs_known"], f["feed_id"]
        assert f["rows_loaded_last"] > 0 and 0 < f["rule_pass_rate"] <= 1 and 0 < f["row_load_rate"] <= 1, f["feed_id"]
        assert len(f["recent_runs"]) >= 2, f["feed_id"]
    assert any(f["quarantine_last"]["rows"] > 0 for f in got.values())
    assert got[STALE_FEED]["status"] in ("stale", "failed")
    assert got["emb_hazard"]["data_docs"] == "expectations/emb_hazard_suite.html"


def test_the_session_cookie_of_the_ui_is_accepted(served):
    token = served.server.token()
    page = httpx.get(served.page, cookies={"_token": token}, follow_redirects=False)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert f'data-feed="{STALE_FEED}" data-status="stale" data-stale="true"' in page.text
    docs = httpx.get(f"{served.server.url}{URL_PREFIX}/data-docs/index.html", cookies={"_token": token})
    assert docs.status_code == 200 and "<html" in docs.text.lower()
    outside = next(p for p in (served.hub_home / "reports").iterdir() if p.is_file())  # e.g. a district report
    escape = httpx.get(f"{served.server.url}{URL_PREFIX}/data-docs/..%2F{outside.name}", cookies={"_token": token})
    assert escape.status_code == 404, "only files of the Data Docs site are served"


def test_the_catalogue_lists_every_data_item_with_its_measured_rates(served):
    from safety_hub.ops.health_page import catalogue_payload

    api = f"{served.server.url}{URL_PREFIX}/api/catalogue"
    assert httpx.get(api).status_code == 401
    assert httpx.get(f"{served.server.url}{URL_PREFIX}/catalogue", follow_redirects=False).status_code == 303
    token = served.server.token()
    response = httpx.get(api, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    got = response.json()
    expected = _json_ready(catalogue_payload(read_engine(served.warehouse_url)))  # here, from the same warehouse and raw zone
    assert got["items"] == expected["items"]
    assert got["total"] == sum(len(f.columns) for f in load_registry().values()) == len(got["items"])
    measured = [i for i in got["items"] if i["as_of"]]
    assert {i["feed_id"] for i in measured} == set(load_registry()), "every feed landed in the session"
    assert got["as_of"] == max(i["as_of"] for i in measured)
    assert all(0 <= i["fill_latest"] <= 1 and 0 <= i["valid_latest"] <= 1 for i in measured)
    assert any(i["fill_latest"] < 1 for i in measured) and any(i["valid_latest"] < 1 for i in measured), "the simulator's blanks and defects"
    page = httpx.get(f"{served.server.url}{URL_PREFIX}/catalogue", cookies={"_token": token})
    assert page.status_code == 200 and page.text.count('<tr data-feed="') == got["total"]
    assert f'{URL_PREFIX}/catalogue' in httpx.get(served.page, cookies={"_token": token}).text, "linked from the health page"


# --- in the browser ----------------------------------------------------------------------------

ROWS_JS = """() => Array.from(document.querySelectorAll('#feed-health tbody tr')).map(tr => {
  const cell = f => tr.querySelector(`[data-field="${f}"]`);
  const style = getComputedStyle(tr.querySelector('td'));
  return {feed: tr.dataset.feed, stale: tr.dataset.stale, cls: tr.className, color: style.color, background: style.backgroundColor,
          status: cell('status').innerText.trim(), loaded: Array.from(cell('rows_loaded').querySelectorAll('span.run')).map(s => s.innerText),
          quarantined: Array.from(cell('rows_quarantined').querySelectorAll('span.run')).map(s => s.innerText),
          rule_pass_rate: cell('rule_pass_rate').innerText.trim(), row_load_rate: cell('row_load_rate').innerText.trim(),
          counts: Array.from(cell('quarantine_last').querySelectorAll('span')).map(s => s.innerText),
          last_run: cell('last_run').innerText.trim(),
          links: Array.from(tr.querySelectorAll('a')).map(a => a.getAttribute('href'))};
})"""


def test_the_page_renders_in_chromium_with_the_stale_feed_in_red(served, record_property):
    token = served.server.token()
    payload = httpx.get(served.api, headers={"Authorization": f"Bearer {token}"}).json()
    console, page_errors = [], []
    shot = screenshot_path(f"feed_health_{served.backend}.png")
    with chromium() as browser:
        anonymous = browser.new_page()
        anonymous.goto(served.page, wait_until="load")
        login_url = anonymous.url  # the auth manager's login form, with the page to come back to
        anonymous.close()

        context = browser.new_context(viewport={"width": 1400, "height": 1100})
        context.add_cookies([{"name": "_token", "value": token, "url": served.server.url}])
        page = context.new_page()
        record_console(page, console, page_errors)
        response = page.goto(served.page, wait_until="load")
        rows = page.evaluate(ROWS_JS)
        title = page.title()
        page.screenshot(path=str(shot), full_page=True)
        followed = {href: page.request.get(served.server.url + href).status for href in rows[0]["links"]}
        docs_text = page.request.get(served.server.url + next(h for h in rows[0]["links"] if "data-docs" in h)).text()

        ui = context.new_page()  # the same page inside the Airflow UI (Browse menu -> frame)
        ui.goto(f"{served.server.url}/plugin/feed-health", wait_until="load")
        ui.wait_for_selector("iframe", timeout=60_000)
        framed = ui.frame_locator("iframe").locator(f'#feed-health tr[data-feed="{STALE_FEED}"]')
        framed.wait_for(timeout=60_000)
        framed_class = framed.get_attribute("class")
    record_property("screenshot", str(shot))
    print(f"screenshot: {shot}")

    assert urlsplit(login_url).path.startswith("/auth/login"), login_url
    assert response.status == 200 and title == "数据源健康 Feed health"
    assert not page_errors and not console, (page_errors, console)
    by_feed = {r["feed"]: r for r in rows}
    expected = {f["feed_id"]: f for f in payload["feeds"]}
    assert list(by_feed) == list(expected)
    red, pink = "rgb(185, 28, 28)", "rgb(253, 232, 232)"
    for feed_id, r in by_feed.items():
        f = expected[feed_id]
        stale = feed_id == STALE_FEED
        red_row = f["status"] != "ok"
        assert r["stale"] == str(stale).lower() and r["cls"] == ("fresh" if f["status"] == "ok" else f["status"]), feed_id
        assert (r["color"] == red and r["background"] == pink) is red_row, (feed_id, r["color"], r["background"])
        assert r["status"] == f["status_text"] and (f["status"] == "failed" or r["status"] == ("超时 STALE" if stale else "正常 ok"))
        assert r["last_run"].startswith({"success": "成功", "failed": "失败"}[f["last_run"]["state"]]), r["last_run"]
        q = f["quarantine_last"]
        assert r["counts"] == [f"{q['rows']:,}", f"{q['records']:,}", f"{q['failures']:,}"], feed_id
        assert r["loaded"] == [f"{run['rows_loaded']:,}" for run in f["recent_runs"]], feed_id
        assert r["quarantined"] == [f"{run['rows_quarantined']:,}" for run in f["recent_runs"]], feed_id
        assert r["rule_pass_rate"] == f"{f['rule_pass_rate']:.1%}" and r["row_load_rate"] == f"{f['row_load_rate']:.1%}"
        assert r["links"][0] == f"/dags/ingest_{feed_id}" and r["links"][1] == f"{URL_PREFIX}/data-docs/{f['data_docs']}"
    assert all(status == 200 for status in followed.values()), followed
    assert "<html" in docs_text.lower()
    assert framed_class == expected[STALE_FEED]["status"]
    assert shot.exists() and shot.stat().st_size > 10_000
