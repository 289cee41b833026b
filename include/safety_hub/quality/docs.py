"""Great Expectations Data Docs: one site in ``reports/data_docs/`` kept across feeds and runs.

Validation itself runs in memory (``validate.check_batch``); each run's result is
stored in a file-backed GX project under ``data/gx/`` and the site is rebuilt
from all stored results, so history is preserved. Imports GX: tasks only.

Agency values never reach the pages as markup, nor personal values unmasked:

* ``store_result`` stores a result with the values it quotes (``unexpected_list``,
  ``partial_unexpected_list``, ``partial_unexpected_counts``, the index lists, observed
  values) HTML-escaped, as GX puts them in its pages raw, and the values of the feed's
  personal columns masked (``safety_hub.domain.masking``); ``build_docs`` does the same to any
  result stored before (one without the ``safety_hub_sanitised`` mark in its meta);
* ``build_docs`` then rewrites every page GX built (``docs_html.rewrite_page``: no script,
  no remote stylesheet or URL, no event handler; our own small stylesheet inlined) and
  writes the site's ``index.html`` itself (GX's lists its pages with a script): a plain
  list of every validation result per feed and business date.

The Feed health page serves the site under a sandboxing Content-Security-Policy
(``health_page``), so even markup that slipped through runs no script on Airflow's origin.
"""

from __future__ import annotations

import copy
import datetime as dt
import html
import logging
from pathlib import Path

from safety_hub.config import settings
from safety_hub.config.files import file_lock, write_atomic
from safety_hub.domain.masking import mask_value

log = logging.getLogger(__name__)

# Mark in a stored result's meta: its values are escaped and its personal values masked.
SANITISED = "safety_hub_sanitised"
# The parts of an expectation's result that quote the batch's values, one value (or one
# row's values) per item; the index lists hold row positions, or dicts of the values of
# ``unexpected_index_column_names``.
_VALUE_LISTS = ("unexpected_list", "partial_unexpected_list")
_INDEX_LISTS = ("unexpected_index_list", "partial_unexpected_index_list")
_COUNTS = "partial_unexpected_counts"


def docs_dir() -> Path:
    return settings.reports_dir() / "data_docs"


def _project_lock():
    """The lock on the GX project (``data/gx/``) and the site. GX's file stores and its config
    write in place: without it, a validate task of one feed storing its result and ``build_docs``
    (or another feed's validate) reading the store, or saving the config, meet half-written
    files. Waits for the holder (a docs build: seconds)."""
    return file_lock(settings.data_dir() / "gx" / ".docs-lock", "the Great Expectations project (data/gx)")


def _context():
    """The file context of the docs store (``data/gx/``), our expectations registered (``gxcontext``);
    call under ``_project_lock``."""
    from safety_hub.quality.gxcontext import get_context

    root = settings.data_dir()
    root.mkdir(parents=True, exist_ok=True)
    ctx = get_context(root)
    site = {
        "class_name": "SiteBuilder",
        "show_how_to_buttons": False,
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir())},
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
    }
    if ctx.get_config().data_docs_sites != {"local_site": site}:
        ctx.variables.data_docs_sites = {"local_site": site}
        ctx.variables.save()
        ctx = get_context(root)
    return ctx


# --- values: escaped, personal ones masked ---------------------------------------------------

def expectation_columns(kwargs: dict) -> list[str]:
    """The columns an expectation reports values of, in the order it reports them."""
    if isinstance(kwargs.get("column_list"), (list, tuple)):
        return [str(c) for c in kwargs["column_list"]]
    if "column_A" in kwargs or "column_B" in kwargs:
        return [str(kwargs.get("column_A")), str(kwargs.get("column_B"))]
    return [str(kwargs["column"])] if kwargs.get("column") is not None else []


def _leaf(value, mask: bool):
    """One value: masked if ``mask``, then HTML-escaped if text. Numbers, dates, None stay
    as they are unless masked (a masked value is text)."""
    if mask and value is not None and not isinstance(value, bool):
        value = mask_value(value)
    return html.escape(value) if isinstance(value, str) else value


def _any(value, mask: bool, columns: list[str], personal: set[str]):
    """Any structure of values: dict items named after a column follow that column, the rest ``mask``."""
    if isinstance(value, dict):
        return {k: _any(v, k in personal if k in columns else mask, columns, personal) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_any(v, mask, columns, personal) for v in value]
    return _leaf(value, mask)


def _row(value, columns: list[str], personal: set[str]):
    """The value(s) one unexpected row is reported with: a scalar (one column), a pair's
    ``(A, B)`` tuple or a column list's values in column order, or a dict by column."""
    if isinstance(value, (list, tuple)) and len(columns) > 1 and len(value) == len(columns):
        return [_any(v, c in personal, columns, personal) for v, c in zip(value, columns)]
    return _any(value, bool(personal & set(columns)), columns, personal)


def sanitise_body(body: dict | None, columns: list[str], personal: set[str]) -> dict | None:
    """An expectation's ``result`` with every value it quotes HTML-escaped and the values of
    ``personal`` columns masked. Counts and percentages are left as they are."""
    if not body:
        return body
    out = {}
    for key, value in body.items():
        if key in _VALUE_LISTS and isinstance(value, list):
            out[key] = [_row(v, columns, personal) for v in value]
        elif key in _INDEX_LISTS and isinstance(value, list):  # row positions stay; dicts are column values
            out[key] = [_any(v, False, columns, personal) if isinstance(v, dict) else v for v in value]
        elif key == _COUNTS and isinstance(value, list):
            out[key] = [{**c, "value": _row(c.get("value"), columns, personal)} if isinstance(c, dict) else c for c in value]
        elif isinstance(value, (str, dict, list, tuple)):  # observed_value, details, ...
            out[key] = _any(value, bool(personal & set(columns)), columns, personal)
        else:
            out[key] = value
    return out


def _personal(feed_id: str) -> set[str] | None:
    """The feed's personal columns; None for a feed no longer in the registry."""
    from safety_hub.domain.masking import personal_columns
    from safety_hub.config.registry import RegistryError, get_feed

    try:
        return personal_columns(get_feed(feed_id))
    except RegistryError:
        return None


def sanitise_result(result, feed_id: str):
    """A copy of a GX suite result fit for Data Docs (see ``sanitise_body``), marked ``SANITISED``.

    For a feed the registry no longer knows, every column counts as personal.
    """
    personal = _personal(feed_id)
    clean = copy.copy(result)
    results = []
    for r in result.results:
        kwargs = r.expectation_config.kwargs if r.expectation_config is not None else {}
        columns = expectation_columns(dict(kwargs))
        c = copy.copy(r)
        c.result = sanitise_body(r.result, columns, set(columns) if personal is None else personal)
        results.append(c)
    clean.results = results
    clean.meta = {**(result.meta or {}), SANITISED: 1}
    return clean


def _feed_of_suite(suite_name: str) -> str:
    return suite_name.removesuffix("_suite")


# --- the store and the site ------------------------------------------------------------------

def store_result(feed_id: str, suite, result, batch_id: str, business_date: dt.date) -> None:
    """Keep one validation result (and its suite) for the docs site, values escaped and masked."""
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier, ValidationResultIdentifier

    key = ValidationResultIdentifier(
        ExpectationSuiteIdentifier(name=suite.name),
        RunIdentifier(run_name=batch_id, run_time=dt.datetime.now(dt.timezone.utc)),
        f"{feed_id}_{business_date.isoformat()}",
    )
    clean = sanitise_result(result, feed_id)
    with _project_lock():
        ctx = _context()
        ctx.suites.add_or_update(suite)
        ctx.validation_results_store.set(key, clean)


def _stored_results(ctx) -> list[dict]:
    """Every stored result (sanitising, and storing again, any stored before ``SANITISED``),
    as what the site's index lists."""
    store = ctx.validation_results_store
    entries = []
    for key in store.list_keys():
        result = store.get(key)
        suite, run_name, run_time, batch = key.to_tuple()
        if not (result.meta or {}).get(SANITISED):
            result = sanitise_result(result, _feed_of_suite(suite))
            store.set(key, result)
            log.info("data docs: result %s stored again, values escaped and masked", "/".join(key.to_tuple()))
        stats = result.statistics or {}
        entries.append({"suite": suite, "feed_id": _feed_of_suite(suite), "run_name": run_name, "run_time": run_time,
                        "batch": batch, "success": bool(result.success), "page": "validations/" + "/".join(key.to_tuple()) + ".html",
                        "evaluated": stats.get("evaluated_expectations"), "successful": stats.get("successful_expectations")})
    return entries


def build_docs() -> Path:
    """Rebuild the site from every stored result, rewrite its pages and write its index; return the index."""
    from safety_hub.quality import docs_html

    with _project_lock():
        ctx = _context()
        entries = _stored_results(ctx)
        ctx.build_data_docs()
        site = docs_dir()
        pages = [p for p in site.rglob("*.html") if p != site / "index.html"]
        for page in pages:
            write_atomic(page, docs_html.rewrite_page(page.read_text(encoding="utf-8")))
        index = write_atomic(site / "index.html", docs_html.render_index(site, [e for e in entries if (site / e["page"]).is_file()]))
    log.info("data docs: %s (%d pages rewritten)", index, len(pages))
    return index
