"""OpenLineage's file transport, safe with many writers: the default ``AIRFLOW__OPENLINEAGE__TRANSPORT``.

The client's own ``file`` transport names each event's file by the microsecond
(``<log_file_path>-<timestamp>.json``) and writes it in place. Celery workers' task processes
(and the threads the provider sends from) can emit two events in the same microsecond: both
open the same name for writing and the file holds parts of each, so an event is lost and the
folder no longer parses. Here every name also carries the process id and a random suffix, and a
local event is written to a hidden temporary file and renamed into place, so a reader (``jq``,
``lineage.read_events``) never sees half an event. Remote paths (``s3://`` and the like, through
fsspec) keep the client's writer with the unique name; object stores write whole objects.

Configured by class path, e.g.
``{"type": "safety_hub.ops.lineage_files.EventFileTransport", "log_file_path": "/…/data/openlineage/events"}``;
every option of the client's ``file`` transport (``append``, ``debug_mode``, ``storage_options``) applies.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from openlineage.client.serde import Serde
from openlineage.client.transport.file import FileTransport

TYPE = f"{__name__}.EventFileTransport"


class EventFileTransport(FileTransport):
    """One file per event, under a name no other writer uses, written whole (see the module)."""

    def _get_file_path(self, event) -> str:
        path = super()._get_file_path(event)
        if self.config.append:
            return path
        return f"{path.removesuffix('.json')}-{os.getpid()}-{uuid.uuid4().hex[:12]}.json"

    def _local_path(self) -> Path | None:
        if self.config.filesystem:
            return None
        path = self.config.log_file_path
        for prefix in ("file://", "local://"):
            if path.startswith(prefix):
                path = path.removeprefix(prefix)
                break
        else:
            if "://" in path:
                return None
        return Path(path)

    def emit(self, event) -> None:
        if self.config.append or self._local_path() is None:
            return super().emit(event)
        final = Path(self._get_file_path(event).removeprefix("file://").removeprefix("local://"))
        final.parent.mkdir(parents=True, exist_ok=True)
        part = final.with_name(f".{final.name}.part")  # hidden: outside the ``events-*`` a reader globs
        text = Serde.to_json(event, **({"indent": 2} if self.config.debug_mode else {})) + "\n"
        try:
            part.write_text(text, encoding="utf-8")
            os.replace(part, final)
        except OSError as error:
            part.unlink(missing_ok=True)
            raise RuntimeError(f"Failed to write OpenLineage event file `{final}`: {error}") from error
