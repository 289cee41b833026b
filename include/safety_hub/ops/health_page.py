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
* ``GET /feed-health/catalogue``  the data-item catalogue (数据项目录, ``reporting.catalogue``): every
  data item of every feed with its fill and validity rates, latest and trailing, and the date they
  run to; ``GET /feed-health/api/catalogue`` the same as JSON;
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


def catalogue_payload(engine=None, now: dt.datetime | None = None, days: int = 7) -> dict:
    """The data-item catalogue with its measured rates (``catalogue.measure``) as JSON-ready data."""
    from safety_hub.ops.health import read_engine
    from safety_hub.reporting.catalogue import items, measure

    found = measure(items(), engine or read_engine(), days=days)
    dates = [i.as_of for i in found if i.as_of]
    return {"generated_at": now or dt.datetime.now(dt.timezone.utc), "days": days, "total": len(found),
            "feeds": len({i.feed_id for i in found}), "as_of": max(dates) if dates else None,
            "items": [i.as_dict() for i in found]}


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


def render_page(payload: dict, airflow_base: str = "") -> str:
    """The page for ``health_payload(...)`` (template ``feed_health.html``); ``airflow_base``: the Airflow UI's root path."""
    from safety_hub.reporting.rendering import render
    from safety_hub.warehouse.quarantine import FAILURES, RECORDS, ROWS

    return render(
        "feed_health.html", feeds=payload["feeds"], failed=payload["failed"], stale=payload["stale"],
        runs_error=payload.get("runs_error"), generated_at=payload["generated_at"],
        recent_runs=max((len(f["recent_runs"]) for f in payload["feeds"]), default=0),
        airflow_base=airflow_base.rstrip("/"), prefix=URL_PREFIX, ROWS=ROWS, RECORDS=RECORDS, FAILURES=FAILURES,
        run_states=RUN_STATES, time=_time, num=_num, rate=_rate,
    )


def render_catalogue(payload: dict) -> str:
    """The catalogue page for ``catalogue_payload(...)`` (template ``data_catalogue.html``)."""
    from safety_hub.reporting.catalogue import HEADERS
    from safety_hub.reporting.rendering import render

    return render("data_catalogue.html", payload=payload, headers=HEADERS, prefix=URL_PREFIX, time=_time, rate=_rate)


def render_unavailable(error: str) -> str:
    """The page served while the warehouse cannot be read (template ``feed_health_unavailable.html``)."""
    from safety_hub.reporting.rendering import render

    return render("feed_health_unavailable.html", error=error)


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

    def payload_or_error(make):
        try:
            return make(), None
        except Exception as exc:  # a DuckDB file locked by a writing task, a database down
            log.warning("feed health unavailable: %s", exc)
            return None, str(exc).splitlines()[0][:300]

    def as_json(make):
        payload, error = payload_or_error(make)
        if payload is None:
            return JSONResponse({"detail": f"warehouse unavailable: {error}"}, status_code=503)
        return _json_ready(payload)

    def as_page(request: Request, user, make, render_payload):
        if user is None:
            return RedirectResponse(get_auth_manager().get_url_login(next_url=str(request.url)), status_code=303)
        payload, error = payload_or_error(make)
        if payload is None:
            return HTMLResponse(render_unavailable(error), status_code=503)
        return HTMLResponse(render_payload(payload))

    @app.get("/api/feeds", dependencies=authenticated)
    def feeds_json():
        return as_json(health_payload)

    @app.get("/", response_class=HTMLResponse)
    def page(request: Request, user=Depends(user_or_none)):
        return as_page(request, user, health_payload, lambda payload: render_page(payload, airflow_base=API_ROOT_PATH))

    @app.get("/api/catalogue", dependencies=authenticated)
    def catalogue_json():
        return as_json(catalogue_payload)

    @app.get("/catalogue", response_class=HTMLResponse)
    def catalogue_page(request: Request, user=Depends(user_or_none)):
        return as_page(request, user, catalogue_payload, render_catalogue)

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
