"""OpenLineage dataset names (https://openlineage.io/docs/spec/naming), pure.

Local files are namespace ``file`` with the absolute path as name; a database table is
``<scheme>://<host>:<port>`` (PostgreSQL: ``postgres://host:5432``) or, for a database file,
``<scheme>://<absolute path>`` (``duckdb:///…/warehouse.duckdb``), with
``<database>.<schema>.<table>`` as name (a database file's database is its file stem); an HTTP
API is ``<scheme>://<host>[:<port>]`` with the endpoint path as name. Credentials never appear
in a namespace. The delivery kinds name their sources with these; ``ops/lineage.py`` the rest.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

# Default ports, so a URL without one names the same datasource as a URL with it.
_DEFAULT_PORTS = {"postgres": 5432, "mysql": 3306, "mssql": 1433, "oracle": 1521}
# SQLAlchemy backend name -> OpenLineage scheme.
_SCHEMES = {"postgresql": "postgres", "mariadb": "mysql"}
# The schema a table lives in when the URL does not say.
_DEFAULT_SCHEMAS = {"postgres": "public", "duckdb": "main", "sqlite": "main", "mssql": "dbo"}
_FILE_DATABASES = {"duckdb", "sqlite"}


@dataclass(frozen=True)
class DatasetRef:
    """An OpenLineage dataset, with the few facets the ingest tasks know."""

    namespace: str
    name: str
    description: str | None = None  # documentation facet
    fields: tuple[tuple[str, str, str | None], ...] = ()  # schema facet: (column, type, description)
    rows: int | None = None  # outputStatistics (outputs only)
    size: int | None = None
    files: int | None = None

    @property
    def key(self) -> tuple[str, str]:
        return self.namespace, self.name


# ---------------------------------------------------------------------------------------------
# Dataset naming (pure)


def file_dataset(path: str | os.PathLike, **facets) -> DatasetRef:
    """A local file or folder: namespace ``file``, its absolute path as name."""
    return DatasetRef("file", os.path.abspath(os.fspath(path)), **facets)


def api_dataset(base_url: str, endpoint: str = "", **facets) -> DatasetRef:
    """An HTTP API endpoint: ``<scheme>://<host>[:<port>]`` and the path (no query, no credentials)."""
    parts = urlsplit(base_url.rstrip("/") + endpoint)
    if not parts.scheme or not parts.hostname:
        raise ValueError(f"not an absolute http(s) URL: {base_url!r}")
    authority = parts.hostname + (f":{parts.port}" if parts.port else "")
    return DatasetRef(f"{parts.scheme}://{authority}", parts.path.strip("/"), **facets)


def sql_namespace(url: str) -> tuple[str, str, str]:
    """``(namespace, database, default schema)`` of a SQLAlchemy URL, without credentials.

    ``postgresql+psycopg2://u:p@db:5432/warehouse`` -> ``("postgres://db:5432", "warehouse", "public")``;
    ``duckdb:////srv/hub/data/warehouse.duckdb`` -> ``("duckdb:///srv/hub/data/warehouse.duckdb", "warehouse", "main")``.
    """
    from sqlalchemy.engine import make_url

    u = make_url(url)
    scheme = _SCHEMES.get(u.get_backend_name(), u.get_backend_name())
    schema = _search_path(u.query) or _DEFAULT_SCHEMAS.get(scheme, "")
    if scheme in _FILE_DATABASES:
        db = u.database or ":memory:"
        if db == ":memory:":
            return f"{scheme}://:memory:", "memory", schema
        path = os.path.abspath(db)
        return f"{scheme}://{path}", Path(path).stem, schema
    host = u.host or "localhost"
    port = u.port or _DEFAULT_PORTS.get(scheme)
    return f"{scheme}://{host}" + (f":{port}" if port else ""), u.database or "", schema


def _search_path(query) -> str | None:
    """The first schema of a PostgreSQL ``?options=-csearch_path=…`` (else None)."""
    options = query.get("options")
    options = options[0] if isinstance(options, tuple) else options
    for opt in (options or "").split():
        if opt.startswith("-csearch_path="):
            return opt.removeprefix("-csearch_path=").split(",")[0].strip() or None
    return None


def sql_table_dataset(url: str, table: str, **facets) -> DatasetRef:
    """A table: the URL's namespace and ``<database>.<schema>.<table>`` (MySQL: ``<database>.<table>``)."""
    namespace, database, schema = sql_namespace(url)
    if "." in table:  # already schema-qualified
        schema, table = table.rsplit(".", 1)
    parts = [p for p in (database, schema, table) if p]
    return DatasetRef(namespace, ".".join(parts), **facets)
