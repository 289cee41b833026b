"""The reports' queries, ``reporting/sql/<name>``: read as shipped, or with their as-of sources filled in."""

from __future__ import annotations

from importlib import resources

from safety_hub.config.registry import Feed, load_registry
from safety_hub.warehouse.sqltext import format_asof


def sql_file(name: str) -> str:
    """A report query, ``reporting/sql/<name>``."""
    return resources.files("safety_hub.reporting").joinpath("sql", name).read_text(encoding="utf-8")


def asof_sql(name: str, feeds: dict[str, Feed] | None = None) -> str:
    """A report query whose ``{asof_<feed_id>}`` sources are those feeds' records as known on ``:as_of``
    (``feeds``: the registry, loaded when not given)."""
    return format_asof(sql_file(name), load_registry() if feeds is None else feeds)
