"""Great Expectations Data Docs: one site in ``reports/data_docs/`` kept across feeds and runs.

Validation itself runs in memory (``validate.check_batch``); each run's result is
stored in a file-backed GX project under ``data/gx/`` and the site is rebuilt
from all stored results, so history is preserved. Imports GX: tasks only.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

from safety_hub import settings

log = logging.getLogger(__name__)


def docs_dir() -> Path:
    return settings.reports_dir() / "data_docs"


def _context():
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    root = settings.data_dir()
    root.mkdir(parents=True, exist_ok=True)
    ctx = gx.get_context(mode="file", project_root_dir=str(root))
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    site = {
        "class_name": "SiteBuilder",
        "show_how_to_buttons": False,
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir())},
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
    }
    if ctx.get_config().data_docs_sites != {"local_site": site}:
        ctx.variables.data_docs_sites = {"local_site": site}
        ctx.variables.save()
        ctx = gx.get_context(mode="file", project_root_dir=str(root))
    return ctx


def store_result(feed_id: str, suite, result, batch_id: str, business_date: dt.date) -> None:
    """Keep one validation result (and its suite) for the docs site."""
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier, ValidationResultIdentifier

    ctx = _context()
    ctx.suites.add_or_update(suite)
    key = ValidationResultIdentifier(
        ExpectationSuiteIdentifier(name=suite.name),
        RunIdentifier(run_name=batch_id, run_time=dt.datetime.now(dt.timezone.utc)),
        f"{feed_id}_{business_date.isoformat()}",
    )
    ctx.validation_results_store.set(key, result)


def build_docs() -> Path:
    """Rebuild the site from every stored result; return its index page."""
    _context().build_data_docs()
    index = docs_dir() / "index.html"
    log.info("data docs: %s", index)
    return index
