"""The Feed health page of the Airflow UI (数据源健康): a FastAPI app the API server mounts.

Mounted at ``/feed-health`` by the plugin ``plugins/feed_health.py`` (which also adds the
page to the UI's Browse menu). Every figure comes from ``health.feed_health``; this module
only serves and renders it:

* ``GET /feed-health/``          the page (server-rendered HTML, no script): per feed the state of
  its ingest DAG's last run with the error of a failed one (from Airflow's own run records, read
  through its ORM models in the API server's process), freshness by the latest business date
  loaded against its expected interval (failed and stale rows in red), rows loaded and 隔离行数
  in the last runs, the latest business date's 隔离行数/隔离记录数/规则违反次数
  (``warehouse.quarantine``), 规则通过率 and 行入库率, links to the DAG and its Data Docs;
  times in Beijing time, the zone named;
* ``GET /feed-health/api/feeds`` the same as JSON;
* ``GET /feed-health/data-docs/…`` the Great Expectations Data Docs site (``reports/data_docs``),
  isolated: its pages quote agency values, so every response under it (errors included)
  carries ``DATA_DOCS_HEADERS``, a Content-Security-Policy ``sandbox`` without
  ``allow-scripts`` or ``allow-same-origin`` (no script runs, and the page has an opaque
  origin: no reach into Airflow's session or API) that lets the page load nothing but the
  site's own styles and images; only the site's files of ``DATA_DOCS_TYPES`` are served.

Airflow mounts plugin apps without authentication, so every route requires an Airflow user,
checked by the API server's own dependency (``core_api.security.get_user``: the JWT bearer
token, or the UI's session cookie, through the configured auth manager): the JSON and the
Data Docs answer 401/403 without one, the page redirects to the auth manager's login.

FastAPI and the API server's security module are imported when the first request arrives
(``app`` is a lazy ASGI app), because every Airflow process that loads plugins (scheduler,
DAG processor) imports the plugin module.
"""

# No ``from __future__ import annotations``: FastAPI reads the route signatures, whose types are
# imported inside ``create_app``, at definition time.
import datetime as dt
import html
import logging
from dataclasses import asdict

log = logging.getLogger(__name__)

URL_PREFIX = "/feed-health"

# Every response under /data-docs/: the pages hold agency values (issue 15, finding 1).
DATA_DOCS_CSP = "sandbox; default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self'"
DATA_DOCS_HEADERS = {
    "Content-Security-Policy": DATA_DOCS_CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
# The files of the site that are served, and their types.
DATA_DOCS_TYPES = {
    ".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8",
    ".json": "application/json", ".png": "image/png", ".svg": "image/svg+xml", ".woff2": "font/woff2",
}


# --- the figures -----------------------------------------------------------------------------

def _data_docs_path(feed_id: str) -> str | None:
    """The feed's page in the Data Docs site, relative to the site (its suite, else the index)."""
    from safety_hub.quality.docs import docs_dir

    site = docs_dir()
    if (site / "expectations" / f"{feed_id}_suite.html").exists():
        return f"expectations/{feed_id}_suite.html"
    return "index.html" if (site / "index.html").exists() else None


def health_payload(engine=None, now: dt.datetime | None = None, runs: dict | None = None, runs_error: str | None = None) -> dict:
    """Feed health as JSON-ready data: ``feed_health`` per feed plus its title, agency and links.

    ``runs``: the ingest DAGs' last runs (``health.last_runs``); by default read from Airflow's
    metadata DB, and when that fails the page says so (``runs_error``) instead of calling feeds 正常.
    """
    from safety_hub.ops.health import airflow_last_runs, feed_health, read_engine
    from safety_hub.config.registry import agencies, load_registry

    now = now or dt.datetime.now(dt.timezone.utc)
    engine = engine or read_engine()
    registry, agency_names = load_registry(), {code: a.name for code, a in agencies().items()}
    if runs is None and runs_error is None:
        runs, runs_error = airflow_last_runs(list(registry))
    feeds = []
    for h in feed_health(engine, now=now, runs=runs):
        feed = registry[h.feed_id]
        row = asdict(h)
        row.update(title=feed.title, agency=agency_names.get(feed.agency, feed.agency), dag_id=f"ingest_{h.feed_id}",
                   status_text=h.status_text,
                   hours_since_data=round((now - h.data_as_of).total_seconds() / 3600, 2) if h.data_as_of else None,
                   data_docs=_data_docs_path(h.feed_id))
        feeds.append(row)
    return {"generated_at": now, "runs_error": runs_error,
            "failed": [f["feed_id"] for f in feeds if f["status"] == "failed"],
            "stale": [f["feed_id"] for f in feeds if f["stale"]], "feeds": feeds}


def _json_ready(value):
    """Dates and times as ISO 8601 strings."""
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_ready(v) for v in value]
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


# --- the page --------------------------------------------------------------------------------

STYLE = """
body { font-family: "Noto Sans CJK SC", "Microsoft YaHei", sans-serif; margin: 1.2rem; color: #1f2933; }
h1 { font-size: 1.3rem; margin: 0 0 .3rem; }
p.meta { color: #52606d; margin: 0 0 1rem; font-size: .9rem; }
table { border-collapse: collapse; width: 100%; font-size: .88rem; }
th, td { border-bottom: 1px solid #d9e2ec; padding: .4rem .5rem; text-align: left; vertical-align: top; }
th { background: #f0f4f8; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.stale td, tr.failed td { background: #fde8e8; color: #b91c1c; }
tr.stale td.status, tr.failed td.status { font-weight: 700; }
td.status.ok { color: #047857; }
small { color: #7b8794; }
tr.stale small, tr.failed small { color: #b91c1c; }
small.error { display: block; max-width: 28rem; word-break: break-all; }
span.run { display: inline-block; min-width: 2.6rem; text-align: right; }
a { color: #1d4ed8; }
"""


def _time(value) -> str:
    """A time of the payload (a datetime, or its ISO text) as a person reads it: Beijing time."""
    from safety_hub.config.settings import beijing_time

    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return beijing_time(value, label=False, missing="-")


def _num(value) -> str:
    return "-" if value is None else f"{value:,}"


def _rate(value) -> str:
    return "-" if value is None else f"{value:.1%}"


RUN_STATES = {"success": "成功 success", "failed": "失败 failed", "running": "运行中 running", "queued": "排队 queued"}


def _last_run_cell(f: dict, runs_error: str | None) -> str:
    e = html.escape
    run = f["last_run"]
    if run is None:
        return "<small>Airflow 运行记录不可读 unknown</small>" if runs_error else "<small>无运行记录 no run</small>"
    when = run["ended_at"] or run["started_at"]
    text = (f'<b data-state="{e(run["state"])}">{e(RUN_STATES.get(run["state"], run["state"]))}</b>'
            f'<br><small>业务日期 {e(str(run["business_date"] or "-"))} · {_time(when)}</small>')
    if run["error"]:
        text += f'<small class="error" data-field="error">{e(run["error"])}</small>'
    return text


def _row(f: dict, airflow_base: str, runs_error: str | None = None) -> str:
    e = html.escape
    status = f["status"]
    runs = f["recent_runs"]
    loaded = " ".join(f'<span class="run" title="{e(str(r["business_date"]))}">{_num(r["rows_loaded"])}</span>' for r in runs) or "-"
    quarantined = " ".join(f'<span class="run" title="{e(str(r["business_date"]))}">{_num(r["rows_quarantined"])}</span>' for r in runs) or "-"
    q = f["quarantine_last"]
    hours = f["hours_since_data"]
    age = "-" if hours is None else f"{hours:g} 小时前"
    docs = (f'<a href="{URL_PREFIX}/data-docs/{e(f["data_docs"])}" target="_blank">数据文档 Data Docs</a>'
            if f["data_docs"] else "<small>无 none</small>")
    note = f'<br><small>{e(f["volume_note"])}</small>' if f["volume_note"] else ""
    return (
        f'<tr class="{"fresh" if status == "ok" else status}" data-feed="{e(f["feed_id"])}" data-status="{e(status)}" '
        f'data-stale="{str(f["stale"]).lower()}">'
        f'<td><b>{e(f["title"])}</b><br><code>{e(f["feed_id"])}</code><br><small>{e(f["agency"])}</small></td>'
        f'<td class="status {e(status)}" data-field="status">{e(f["status_text"])}</td>'
        f'<td data-field="last_run">{_last_run_cell(f, runs_error)}</td>'
        f'<td data-field="freshness">{e(str(f["last_business_date"] or "从未加载 never"))}<br><small>数据截至 {_time(f["data_as_of"])} · {age}'
        f'<br>应 ≤ {f["fresh_within_hours"]:g} 小时 expected</small></td>'
        f'<td data-field="last_loaded_at">{_time(f["last_loaded_at"])}</td>'
        f'<td class="num" data-field="rows_loaded">{loaded}{note}</td>'
        f'<td class="num" data-field="rows_quarantined">{quarantined}</td>'
        f'<td class="num" data-field="quarantine_last"><span data-count="rows">{_num(q["rows"])}</span> / '
        f'<span data-count="records">{_num(q["records"])}</span> / <span data-count="failures">{_num(q["failures"])}</span></td>'
        f'<td class="num" data-field="rule_pass_rate">{_rate(f["rule_pass_rate"])}</td>'
        f'<td class="num" data-field="row_load_rate">{_rate(f["row_load_rate"])}</td>'
        f'<td><a href="{e(airflow_base)}/dags/{e(f["dag_id"])}" target="_top">DAG {e(f["dag_id"])}</a><br>{docs}</td>'  # _top: out of the UI's frame
        "</tr>"
    )


def _summary(payload: dict) -> str:
    e = html.escape
    failed, stale, runs_error = payload["failed"], payload["stale"], payload.get("runs_error")
    parts = []
    if failed:
        parts.append(f'<b style="color:#b91c1c">{len(failed)} 个数据源最近运行失败 failed: {e(", ".join(failed))}</b>')
    if stale:
        parts.append(f'<b style="color:#b91c1c">{len(stale)} 个数据源数据超时 stale: {e(", ".join(stale))}</b>')
    if runs_error:
        parts.append(f'<b style="color:#b45309">Airflow 运行记录不可读，无法判断最近运行是否成功 run records unreadable: {e(runs_error)}</b>')
    if not parts:
        parts.append('<b style="color:#047857">全部数据源最近运行成功、数据按时更新 all feeds ran and are fresh</b>')
    return " · ".join(parts)


def render_page(payload: dict, airflow_base: str = "") -> str:
    """The page for ``health_payload(...)``; ``airflow_base``: the Airflow UI's root path."""
    from safety_hub.warehouse.quarantine import FAILURES, RECORDS, ROWS

    rows = "\n".join(_row(f, airflow_base.rstrip("/"), payload.get("runs_error")) for f in payload["feeds"])
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>数据源健康 Feed health</title>
<style>{STYLE}</style></head>
<body>
<h1>数据源健康 Feed health</h1>
<p class="meta">生成时间 {_time(payload["generated_at"])}（北京时间，本页时间均为北京时间 UTC+08:00） · {_summary(payload)}</p>
<p class="meta">状态：最近一次运行失败为“失败”；否则按已入库的最新业务日期判断时效（业务日期当天结束即“数据截至”，超过应更新间隔为“超时”）。
入库行数与{ROWS}为最近 {max((len(f["recent_runs"]) for f in payload["feeds"]), default=0)} 次成功加载（新→旧，悬停看业务日期）；
最新业务日期隔离：{ROWS}（被隔离的交付行）/ {RECORDS}（按业务主键去重）/ {FAILURES}（行 × 规则）；
规则通过率 = 最近一次校验中通过的规则占比；行入库率 = 最近一次加载中入库行数占抽取行数的比例 ·
<a href="{URL_PREFIX}/api/feeds">JSON</a></p>
<table id="feed-health">
<thead><tr><th>数据源 feed</th><th>状态 status</th><th>最近运行 last run</th><th>最新业务日期 data</th><th>最后成功加载 last load</th>
<th>入库行数 rows loaded</th><th>{ROWS} quarantined rows</th><th>最新业务日期隔离 {ROWS} / {RECORDS} / {FAILURES}</th>
<th>规则通过率 rules passed</th><th>行入库率 rows loaded</th><th>链接 links</th></tr></thead>
<tbody>
{rows}
</tbody></table>
</body></html>
"""


UNAVAILABLE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>数据源健康 Feed health</title></head>
<body><h1>数据源健康 Feed health</h1><p>数据仓库暂时无法读取（可能正有任务在写入 DuckDB 文件），请稍后刷新。
The warehouse cannot be read right now (a task may be writing the DuckDB file); reload in a moment.</p>
<p><small>{error}</small></p></body></html>"""


# --- the app ---------------------------------------------------------------------------------

def create_app():
    """The FastAPI app of the page; every route requires an authenticated Airflow user."""
    from fastapi import Depends, FastAPI, HTTPException, Request
    from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse
    from fastapi.security import HTTPAuthorizationCredentials

    from airflow.api_fastapi.app import API_ROOT_PATH, get_auth_manager
    from airflow.api_fastapi.core_api.security import bearer_scheme, get_user, requires_authenticated

    app = FastAPI(title="safety-hub feed health", docs_url=None, redoc_url=None, openapi_url=None)
    authenticated = [Depends(requires_authenticated())]

    @app.middleware("http")
    async def isolate_data_docs(request: Request, call_next):
        """The Data Docs headers on every response under /data-docs/ (401, 403 and 404 included)."""
        response = await call_next(request)
        root, path = request.scope.get("root_path", ""), request.url.path
        if (path[len(root):] if root and path.startswith(root) else path).startswith("/data-docs"):
            response.headers.update(DATA_DOCS_HEADERS)
        return response

    async def user_or_none(request: Request, bearer: HTTPAuthorizationCredentials | None = Depends(bearer_scheme)):
        """The user as the API server resolves it (bearer token, else session cookie), or None."""
        try:
            return await get_user(request, None, bearer)
        except HTTPException:
            return None

    def payload_or_error():
        try:
            return health_payload(), None
        except Exception as exc:  # a DuckDB file locked by a writing task, a database down
            log.warning("feed health unavailable: %s", exc)
            return None, str(exc).splitlines()[0][:300]

    @app.get("/api/feeds", dependencies=authenticated)
    def feeds_json():
        payload, error = payload_or_error()
        if payload is None:
            return JSONResponse({"detail": f"warehouse unavailable: {error}"}, status_code=503)
        return _json_ready(payload)

    @app.get("/", response_class=HTMLResponse)
    def page(request: Request, user=Depends(user_or_none)):
        if user is None:
            return RedirectResponse(get_auth_manager().get_url_login(next_url=str(request.url)), status_code=303)
        payload, error = payload_or_error()
        if payload is None:
            return HTMLResponse(UNAVAILABLE.format(error=html.escape(error)), status_code=503)
        return HTMLResponse(render_page(payload, airflow_base=API_ROOT_PATH))

    @app.get("/data-docs/{path:path}", dependencies=authenticated)
    def data_docs(path: str):
        from safety_hub.quality.docs import docs_dir

        site = docs_dir().resolve()
        target = (site / (path or "index.html")).resolve()
        if not target.is_relative_to(site) or not target.is_file() or target.suffix.lower() not in DATA_DOCS_TYPES:
            raise HTTPException(status_code=404, detail="not in the Data Docs site")
        return FileResponse(target, media_type=DATA_DOCS_TYPES[target.suffix.lower()], headers=DATA_DOCS_HEADERS)

    return app


class LazyASGIApp:
    """An ASGI app that builds the real one at its first request."""

    def __init__(self, factory):
        self._factory = factory
        self._app = None

    async def __call__(self, scope, receive, send):
        if self._app is None:
            self._app = self._factory()
        await self._app(scope, receive, send)


app = LazyASGIApp(create_app)
