"""OpenLineage's file transport, safe with many writers: the default ``AIRFLOW__OPENLINEAGE__TRANSPORT``.

The client's own ``file`` transport names each event's file by the microsecond
(``<log_file_path>-<timestamp>.json``) and writes it in place. Celery workers' task processes
(and the threads the provider sends from) can emit two events in the same microsecond: both
open the same name for writing and the file holds parts of each, so an event is lost and the
folder no longer parses. Here every name also carries the process id and a random suffix, and a
local event is written to a hidden temporary file and renamed into place, so a reader (``jq``,
``lineage.read_events``) never sees half an event. Remote paths (``s3://`` and the like, through
fsspec) keep the client's writer with the unique name; object stores write whole objects. With
``append`` the client's writer appends to one file, and events of several processes can interleave
there: keep the default (a file per event) wherever more than one worker runs.

Configured by class path, e.g.
``{"type": "safety_hub.ops.lineage_files.EventFileTransport", "log_file_path": "/…/data/openlineage/events"}``;
every option of the client's ``file`` transport (``append``, ``debug_mode``, ``storage_options``) applies.
"""

from __future__ import annotations

import os
import uuid

from openlineage.client.serde import Serde
from openlineage.client.transport.file import FileTransport

from safety_hub.config.files import write_atomic

TYPE = f"{__name__}.EventFileTransport"


class EventFileTransport(FileTransport):
    """One file per event, under a name no other writer uses, written whole (see the module)."""

    def _get_file_path(self, event) -> str:
        path = super()._get_file_path(event)
        if self.config.append:
            return path
        return f"{path.removesuffix('.json')}-{os.getpid()}-{uuid.uuid4().hex[:12]}.json"

    def _is_local(self) -> bool:
        path = self.config.log_file_path
        return not self.config.filesystem and (path.startswith(("file://", "local://")) or "://" not in path)

    def emit(self, event) -> None:
        if self.config.append or not self._is_local():
            return super().emit(event)
        final = self._get_file_path(event).removeprefix("file://").removeprefix("local://")
        text = Serde.to_json(event, **({"indent": 2} if self.config.debug_mode else {})) + "\n"
        try:
            write_atomic(final, text)  # a hidden temporary file beside it: outside the ``events-*`` a reader globs
        except OSError as error:
            raise RuntimeError(f"Failed to write OpenLineage event file `{final}`: {error}") from error
