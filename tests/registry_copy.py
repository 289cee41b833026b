"""A copy of the feed registry (``include/feeds``) that a test may change: a feed's YAML edited, a feed
added. What the registry checks, the grants and feed health do with a registry the project does
not ship is tested on such a copy; the shipped one is never written."""
from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import yaml

FEEDS_DIR = Path(__file__).resolve().parents[1] / "include" / "feeds"


def copy_registry(target: Path, files: list[str] | None = None) -> Path:
    """``target`` made a copy of the registry (only ``files``, by name, when given); returns it."""
    if files is None:
        shutil.copytree(FEEDS_DIR, target)
    else:
        target.mkdir(parents=True)
        for name in files:
            shutil.copy(FEEDS_DIR / name, target / name)
    return target


def read_feed(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def write_feed(path: Path, doc: dict) -> None:
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")


def edit_feed(path: Path, change: Callable[[dict], None] | dict) -> dict:
    """The YAML at ``path`` changed in place by ``change`` (a function of the document, or keys to
    set); returns the changed document."""
    doc = read_feed(path)
    if callable(change):
        change(doc)
    else:
        doc.update(change)
    write_feed(path, doc)
    return doc


def site_contact_feed(project: dict) -> dict:
    """A new feed with its own table, 工地联系人, made from the 在建项目 feed's document ``project``
    (the schema-change tests add it to a copy)."""
    return dict(project, feed_id="hcc_site_contact", dataset="site_contact", title="工地联系人", target_table="fact_site_contact",
                delivery=dict(project["delivery"], pattern="工地联系人_{date:%Y%m%d}.csv"))
