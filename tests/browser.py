"""Headless Chromium for the browser tests: Debian's /usr/bin/chromium driven by playwright.

``make install`` installs chromium (apt-get, as root); without it the tests skip, saying so.
Screenshots go to ``reports/_artifacts/`` (``SAFETY_HUB_TEST_ARTIFACTS`` overrides).
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import pytest

from safety_hub.config import settings

CHROMIUM = Path("/usr/bin/chromium")


def screenshot_path(name: str) -> Path:
    """Where a test's screenshot goes (the folder is created)."""
    folder = Path(os.environ.get("SAFETY_HUB_TEST_ARTIFACTS", settings.PROJECT_DIR / "reports" / "_artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


@contextmanager
def chromium(*args: str):
    """A headless Chromium browser (playwright), closed afterwards; skips when chromium is missing.

    ``args``: more command-line switches (e.g. ``--proxy-server=...``)."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: `make install` installs Debian's chromium (apt-get, as root)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu", *args])
        try:
            yield browser
        finally:
            browser.close()


def record_console(page, console: list[str], page_errors: list[str]) -> None:
    """Collect the page's console errors and warnings, and its uncaught errors, into the lists."""
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: page_errors.append(str(e)))
