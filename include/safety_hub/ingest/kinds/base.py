"""The delivery-kind registry: what a kind is, and where each registers itself.

A kind is one module in this folder holding everything that depends on how an agency
delivers: its extractor, its parser choice, its lineage facet, its task policy (retries,
the extract's timeout), whether it waits for the delivery (a sensor), whether a delivery
already loaded is skipped by its sha256, what happens after a load, and how a copy saved on
this machine is read (``safety-hub validate``). It ends in ``register(DeliveryKind(...))``;
``kinds/__init__.py`` imports the built-in ones. The extract (``extract.extract``), the
landing zone (``landing.parse_files``), the pipeline (``pipeline.run_extract`` /
``run_load``), the ingest DAGs (``dags/ingest_feeds.py``), the CLI and the lineage
(``ops/lineage.source_dataset``) look a feed's kind up here (``get_kind``), never switch on
its name (``tests/unit/test_delivery_kinds.py`` checks). The kind's delivery settings are a
pydantic model in ``config/registry.py`` (``Delivery``), discriminated by ``kind``.

Imported by the DAG files at parse time: nothing heavy at module level here or in a kind's
module (a kind imports its clients inside its functions).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from safety_hub.domain.errors import FeedError
from safety_hub.ingest.delivery import Extract, RawFile

if TYPE_CHECKING:
    from safety_hub.config.registry import Feed
    from safety_hub.ingest.datasets import DatasetRef


@dataclass(frozen=True)
class Wait:
    """A sensor task before the extract, waiting for the delivery without holding a worker slot.

    ``ready(feed, day)`` is poked every ``poke_interval`` seconds in ``reschedule`` mode for at
    most ``timeout`` seconds; the task is ``task_id`` and does not retry.
    """

    task_id: str
    ready: Callable[[Feed, dt.date], bool]
    timeout: float
    poke_interval: float = 300


def read_local_file(feed: Feed, path: Path, day: dt.date) -> Extract:
    """A delivery saved on this machine as one regular file, with no announced row count (the default ``read_local``)."""
    if not path.is_file():
        raise FeedError(feed.feed_id, str(path), "not a regular file" + (" (a folder of pages is for an API feed)" if path.is_dir() else ""))
    return Extract(feed.feed_id, day, str(path), [RawFile(path.name, path.read_bytes())])


def no_wait(feed: Feed) -> Wait | None:
    """Extract at once (the default ``wait``)."""
    return None


def nothing_after_load(feed: Feed, day: dt.date) -> None:
    """Nothing to do once loaded (the default ``after_load``)."""


@dataclass(frozen=True)
class DeliveryKind:
    """One delivery kind.

    ``extract(feed, delivery, day)``: the day's delivery, its original bytes (``Extract``);
    ``parser(feed)``: the landing parser that reads them, by name (``landing.PARSERS``:
    ``api_pages``, ``jsonl``, ``csv``, ``xlsx``);
    ``source(feed, conn, day, **facets)``: the dataset the extract reads (OpenLineage);
    ``retries``, ``retry_delay``: the ingest DAG's default for its I/O tasks (extract, load;
    exponential backoff from ``retry_delay``); ``extract_timeout``: the extract task's
    ``execution_timeout``;
    ``wait(feed)``: the sensor before the extract (``Wait``), or None to extract at once;
    ``dedupe_by_digest``: a delivery whose sha256 was already loaded for the feed is not
    processed again (``run_extract``, unless forced);
    ``after_load(feed, day)``: called by ``run_load`` once the day's rows are committed;
    ``read_local(feed, path, day)``: a delivery saved at ``path`` on this machine, as the
    extract would hand it to landing (``safety-hub validate``).
    """

    name: str
    extract: Callable[[Feed, Any, dt.date], Extract]
    parser: Callable[[Feed], str]
    source: Callable[..., DatasetRef]
    retries: int = 1
    retry_delay: dt.timedelta = dt.timedelta(minutes=1)
    extract_timeout: dt.timedelta = dt.timedelta(minutes=30)
    wait: Callable[[Feed], Wait | None] = no_wait
    dedupe_by_digest: bool = False
    after_load: Callable[[Feed, dt.date], object] = nothing_after_load
    read_local: Callable[[Feed, Path, dt.date], Extract] = read_local_file


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


def kind_of(feed: Feed) -> DeliveryKind:
    """The kind of ``feed``'s delivery."""
    return get_kind(feed.delivery.kind)
