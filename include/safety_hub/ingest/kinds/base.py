"""The delivery-kind registry: what a kind is, and where each registers itself.

A kind is one module in this folder holding its extractor, its parser choice and its lineage
facet, ending in ``register(DeliveryKind(...))``; ``kinds/__init__.py`` imports the built-in
ones. The extract (``extract.extract``), the landing zone (``landing.parse_files``) and the
lineage (``ops/lineage.source_dataset``) look a feed's kind up here (``get_kind``), never
switch on its name. The kind's delivery settings are a pydantic model in
``config/registry.py`` (``Delivery``), discriminated by ``kind``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from safety_hub.config.connections import ConnectionInfo
    from safety_hub.config.registry import Feed
    from safety_hub.ingest.datasets import DatasetRef
    from safety_hub.ingest.delivery import Extract


@dataclass(frozen=True)
class DeliveryKind:
    """One delivery kind.

    ``extract(feed, delivery, day)``: the day's delivery, its original bytes (``Extract``);
    ``parser(feed)``: the landing parser that reads them, by name (``landing.PARSERS``:
    ``api_pages``, ``jsonl``, ``csv``, ``xlsx``);
    ``source(feed, conn, day, **facets)``: the dataset the extract reads (OpenLineage).
    """

    name: str
    extract: Callable[[Feed, Any, dt.date], Extract]
    parser: Callable[[Feed], str]
    source: Callable[..., DatasetRef]


KINDS: dict[str, DeliveryKind] = {}


def register(kind: DeliveryKind) -> DeliveryKind:
    """Make ``kind`` the implementation of deliveries whose ``kind`` is ``kind.name``."""
    KINDS[kind.name] = kind
    return kind


def get_kind(name: str) -> DeliveryKind:
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(f"unknown delivery kind {name!r}; registered: {', '.join(sorted(KINDS))}") from None
