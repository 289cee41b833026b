"""Engine creation and schema set-up for the configured warehouse URL.

``ensure_schema`` keeps the schema at the model in two steps: Alembic's migrations
(``warehouse/migrations``: type changes, renames, new keys; ``warehouse.versioning``) and the
registry-driven additive step (new tables, columns and indexes of the model and of the feed
registry, created at runtime, no revision needed).
"""

from __future__ import annotations

import ast
import contextlib
import functools
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa

from safety_hub.config import settings
from safety_hub.domain.places import DISTRICTS, LEGACY_DISTRICTS
from safety_hub.warehouse.access import regrant_analysts
from safety_hub.warehouse.schema import VERSION_TABLE, build_metadata


def get_engine(url: str | None = None) -> sa.Engine:
    """The engine for ``url`` (default: the configured warehouse), one per URL per process.

    The last ``ENGINES_KEPT`` URLs' engines are kept; an older one is disposed when it drops out,
    so its idle pooled connection closes and, on a DuckDB file, its writer lock is released: a
    new engine on that file (a later ``get_engine`` of its URL) would otherwise wait for a lock
    this very process holds.
    """
    url = url or settings.warehouse_url()
    with _ENGINES_LOCK:
        engine = _ENGINES.pop(url, None)
        if engine is None:
            engine = _engine(url)
        _ENGINES[url] = engine
        while len(_ENGINES) > ENGINES_KEPT:
            _, old = _ENGINES.popitem(last=False)
            old.dispose()
    return engine


ENGINES_KEPT = 8
_ENGINES: OrderedDict[str, sa.Engine] = OrderedDict()
_ENGINES_LOCK = threading.Lock()


def _engine(url: str) -> sa.Engine:
    if url.startswith("duckdb"):
        if url.startswith("duckdb:///"):
            Path(url.removeprefix("duckdb:///")).parent.mkdir(parents=True, exist_ok=True)
        # Bounded memory, and no insertion order to keep: loads order rows by their own position
        # column where it matters (dedupe), so DuckDB may insert in parallel and spill less.
        config = {"memory_limit": settings.duckdb_memory_limit(), "preserve_insertion_order": False}
        engine = sa.create_engine(url, connect_args={"config": config})
        database = engine.url.database
        if database and database != ":memory:":
            _hold_writer_lock(engine, Path(database))
        return engine
    return sa.create_engine(url, pool_pre_ping=True)


class WarehouseBusy(RuntimeError):
    """Another process kept the DuckDB warehouse longer than the wait allows."""


class _WriterLock:
    """An exclusive lock on ``.<warehouse>.writer.lock`` held while this process has a connection open to the file.

    DuckDB lets one process open a file for writing and refuses every other at once
    ("Could not set lock on file"): a second task, a CLI replay or an extract checking
    its delivery against ``load_audit`` would fail instead of waiting. Here the second
    process waits (``SAFETY_HUB_DUCKDB_WAIT_SECONDS``, default 600) for the first to
    close its connections, then fails in one line naming the holder.
    """

    def __init__(self, path: Path):
        self.path, self.count, self.handle, self.mutex = path, 0, None, threading.Lock()

    def acquire(self) -> None:
        import os

        from safety_hub.config.files import wait_for_flock

        with self.mutex:
            if self.count == 0:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                handle = open(self.path, "a+")
                wait = float(os.environ.get("SAFETY_HUB_DUCKDB_WAIT_SECONDS", "600"))
                name = self.path.name.removesuffix(".writer.lock").lstrip(".")
                if not wait_for_flock(handle, wait, f"warehouse {name}"):
                    handle.seek(0)
                    holder = handle.read().strip() or "?"
                    handle.close()
                    raise WarehouseBusy(f"warehouse {name} is held by process {holder}; waited {wait:.0f}s, try again when it has finished")
                handle.seek(0)
                handle.truncate()
                handle.write(str(os.getpid()))
                handle.flush()
                self.handle = handle
            self.count += 1

    def release(self) -> None:
        import fcntl

        with self.mutex:
            self.count -= 1
            if self.count == 0 and self.handle is not None:
                fcntl.flock(self.handle, fcntl.LOCK_UN)
                self.handle.close()
                self.handle = None


def _hold_writer_lock(engine: sa.Engine, database: Path) -> None:
    import atexit

    lock = _WriterLock(database.with_name(f".{database.name}.writer.lock"))
    # Close the DuckDB connections before the interpreter tears down: the lock file must
    # outlive them, or a waiting process would find DuckDB's own lock still held.
    atexit.register(engine.dispose)

    @sa.event.listens_for(engine, "do_connect")
    def _before_connect(dialect, conn_rec, cargs, cparams):
        lock.acquire()
        conn_rec.info["writer_lock"] = True

    @sa.event.listens_for(engine.pool, "close")
    def _after_close(dbapi_connection, conn_rec):
        if conn_rec.info.pop("writer_lock", False):
            lock.release()

    @sa.event.listens_for(engine.pool, "close_detached")
    def _after_close_detached(dbapi_connection):
        pass  # detached connections are not used by this project


def dialect(conn: sa.Connection | sa.Engine) -> str:
    return conn.dialect.name


_ensured: set[tuple[str, int]] = set()


SCHEMA_LOCK_KEY = 0x5AFE_7AB1E  # pg_advisory_xact_lock key of ensure_schema (any constant of our own)


class SchemaBehind(RuntimeError):
    """The warehouse lacks tables, columns or indexes of the model, and this login may not add them."""


def ensure_schema(engine: sa.Engine) -> sa.MetaData:
    """Bring the warehouse to the model: migrations to the head revision, then the additive step.

    1. A new warehouse (none of the model's tables) is created from the model and stamped at the
       head revision; otherwise Alembic's migrations (``warehouse/migrations``, see
       ``warehouse.versioning``) run up to head: type changes, renames, new keys. A warehouse made
       before Alembic (tables, no ``alembic_version``) is stamped at the baseline first.
    2. The registry-driven additive step: tables, columns and indexes new in the model or in a
       feed's YAML are created (a new column appears as NULLs); ``dim_district`` and
       ``dim_district_legacy`` are seeded again.

    Both in one transaction, done once per engine and model per process; safe to call at every
    stage. A schema that is up to date takes no DDL (one read of the revision and of the columns;
    the revision is compared with the head read from the migration files, ``script_head``, so
    Alembic is not even imported),
    so the warehouse's task login (no DDL rights, ``warehouse.roles``) may call it; a change needs
    the owner (``python -m safety_hub warehouse migrate``) and fails here with :class:`SchemaBehind`
    saying so. On PostgreSQL every change also grants again, column by column, for each analyst
    role of ``grant-analyst`` (``warehouse.access``), so a column or table added later is visible to
    analysts only if it is not personal.
    """
    md = build_metadata()
    signature = (engine.url.render_as_string(hide_password=False), hash(tuple((t.name, tuple(t.columns.keys())) for t in md.sorted_tables)))
    if signature in _ensured:
        return md
    tables = [t for t in md.sorted_tables if t.name != VERSION_TABLE]  # Alembic makes and keeps its own table
    try:
        with engine.begin() as conn:
            postgres = conn.dialect.name == "postgresql"
            if postgres:
                # Tasks on several workers start on a new warehouse at once: two CREATE TABLEs of the
                # same name race ("duplicate key ... pg_type_typname_nsp_index"). One at a time; the
                # next sees the tables (checkfirst) once the first commits.
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK_KEY})
                _act_as_schema_owner(conn)
            existing = _existing_columns(conn)
            migrated = False
            new = not any(t.name in existing for t in tables)
            if new or not _at_head(conn, existing):
                # Alembic is imported only when there may be something to stamp or migrate.
                from safety_hub.warehouse import versioning

                if new:
                    md.create_all(conn, tables=tables, checkfirst=True)
                    versioning.stamp(conn, "head")
                    existing, migrated = _existing_columns(conn), True
                elif (revision := versioning.current(conn)) != versioning.head():
                    if revision is None:
                        versioning.stamp(conn, versioning.BASELINE)
                    versioning.upgrade(conn, "head")
                    existing, migrated = _existing_columns(conn), True
            missing = [t for t in tables if t.name not in existing]
            md.create_all(conn, tables=missing, checkfirst=True)
            _seed_version_tables(conn, md, {t.name for t in missing}, existing)
            added = _add_missing_columns(conn, md, existing)
            _add_missing_indexes(conn, md)
            if postgres and (missing or added or migrated):
                regrant_analysts(conn, md)
            districts = md.tables["dim_district"]
            legacy = md.tables["dim_district_legacy"]
            conn.execute(districts.delete())
            conn.execute(districts.insert(), [{"district_code": c, "district_name": n} for c, n in DISTRICTS.items()])
            conn.execute(legacy.delete())
            conn.execute(legacy.insert(), [{"legacy_code": o, "district_code": n} for o, n in LEGACY_DISTRICTS.items()])
    except sa.exc.ProgrammingError as exc:
        if getattr(exc.orig, "pgcode", None) != "42501":  # insufficient_privilege
            raise
        user = engine.url.username or "this login"
        raise SchemaBehind(f"the warehouse schema is behind the model and {user} may not change it ({str(exc.orig).splitlines()[0]}): "
                           "run `python -m safety_hub warehouse migrate` with the owner's login "
                           "(compose: `docker compose run --rm airflow-init`)") from None
    _ensured.add(signature)
    return md


def _seed_version_tables(conn: sa.Connection, md: sa.MetaData, created: set[str], existing: dict) -> None:
    """A version table new to a warehouse whose fact table has rows (a feed given a ``version_table``
    later) starts from the fact table: each record's stored version at its business date. History
    before that is what the fact table kept, the newest version only. (Every feed of a fact table
    names the same version table, the registry checks: the fact table's rows are all its versions.)"""
    for name in created:
        fact = md.tables[name].info.get("versions_of")
        if fact in existing:
            cols = ", ".join(f'"{c.name}"' for c in md.tables[name].columns if c.name in existing[fact])
            conn.execute(sa.text(f'INSERT INTO "{name}" ({cols}) SELECT {cols} FROM "{fact}"'))


MIGRATION_VERSIONS = Path(__file__).with_name("migrations") / "versions"
_REVISION_LINE = re.compile(r"^(down_revision|revision)\b[^=\n]*=\s*(.+?)\s*$", re.MULTILINE)


@functools.lru_cache(maxsize=1)
def script_head() -> str | None:
    """The head revision of ``warehouse/migrations``, read from the files without importing Alembic
    (its import costs 0.5-1 s in a fresh task process); ``None`` when the chain is not a plain line of
    quoted revisions (a branch, a merge), and Alembic decides (``versioning.head``)."""
    revisions, parents = set(), set()
    for path in MIGRATION_VERSIONS.glob("*.py"):
        found = dict(_REVISION_LINE.findall(path.read_text(encoding="utf-8")))
        try:
            revision = ast.literal_eval(found["revision"])
            down = ast.literal_eval(found.get("down_revision", "None"))
        except (KeyError, ValueError, SyntaxError):
            return None
        if not isinstance(revision, str) or not (down is None or isinstance(down, str)):
            return None
        revisions.add(revision)
        if down is not None:
            parents.add(down)
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def _at_head(conn: sa.Connection, existing: dict[str, set[str]]) -> bool:
    """Whether the warehouse's recorded revision is the migrations' head, checked without Alembic:
    the common case at every task, which then needs no migration."""
    head = script_head()
    if head is None or VERSION_TABLE not in existing:
        return False
    rows = conn.execute(sa.text(f'SELECT version_num FROM "{VERSION_TABLE}"')).scalars().all()
    return rows == [head]


def _act_as_schema_owner(conn: sa.Connection) -> None:
    """A superuser (an admin running ``grant-analyst`` or ``warehouse migrate``) makes tables as the
    schema's owner role (``warehouse.roles``), for this transaction: a table it created as itself
    would lack the task login's rights, which come with the owner's tables."""
    owner, may = conn.execute(sa.text(
        "SELECT n.nspowner::regrole::text, pg_has_role(current_user, n.nspowner, 'MEMBER') "
        "FROM pg_namespace n WHERE n.nspname = current_schema()")).one()
    if may and not owner.startswith("pg_") and owner != conn.execute(sa.text("SELECT current_user")).scalar_one():
        conn.execute(sa.text(f"SET LOCAL ROLE {owner}"))  # regrole::text is quoted as needed


def _existing_columns(conn: sa.Connection) -> dict[str, set[str]]:
    schema_filter = "table_schema = current_schema()" if conn.dialect.name == "postgresql" else "table_schema = 'main'"
    existing: dict[str, set[str]] = {}
    for table, column in conn.execute(sa.text(f"SELECT table_name, column_name FROM information_schema.columns WHERE {schema_filter}")):
        existing.setdefault(table, set()).add(column)
    return existing


def _add_missing_columns(conn: sa.Connection, md: sa.MetaData, existing: dict[str, set[str]]) -> list[str]:
    """Additive schema evolution: a column added to a feed or the model appears as NULLs. Returns ``table.column`` of each."""
    added = []
    for table in md.sorted_tables:
        for column in table.columns:
            if table.name in existing and column.name not in existing[table.name]:
                ddl = column.type.compile(dialect=conn.dialect)
                default = f" DEFAULT {column.server_default.arg}" if column.server_default is not None else ""
                conn.execute(sa.text(f'ALTER TABLE "{table.name}" ADD COLUMN "{column.name}" {ddl}{default}'))
                added.append(f"{table.name}.{column.name}")
    return added


def _add_missing_indexes(conn: sa.Connection, md: sa.MetaData) -> None:
    """Indexes new in the model (a unique key on an existing fact table) are created; duplicates already there fail loudly.

    On PostgreSQL only the missing ones are created: even ``CREATE INDEX IF NOT EXISTS`` needs
    the table's owner, and the task login is not.
    """
    present = None
    if conn.dialect.name == "postgresql":
        present = set(conn.execute(sa.text("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()")).scalars())
    for table in md.sorted_tables:
        for index in table.indexes:
            if present is not None and index.name in present:
                continue
            if conn.dialect.name not in index.info.get("dialects", (conn.dialect.name,)):
                continue  # e.g. the fact tables' unique key: PostgreSQL only (schema.py)
            cols = ", ".join(f'"{c.name}"' for c in index.columns)
            unique = "UNIQUE " if index.unique else ""
            conn.execute(sa.text(f'CREATE {unique}INDEX IF NOT EXISTS "{index.name}" ON "{table.name}" ({cols})'))


@contextlib.contextmanager
def feed_transaction(engine: sa.Engine, feed_id: str) -> Iterator[sa.Connection]:
    """One transaction that no other load of the same feed runs beside: a second one waits for the first to commit.

    PostgreSQL: a transaction-scoped advisory lock on the feed. DuckDB: other processes
    already wait for this one's writer lock (``_WriterLock``); threads of one process
    take turns here.
    """
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": f"safety_hub.load.{feed_id}"})
            yield conn
        return
    with _LOCAL_LOCK, engine.begin() as conn:
        yield conn


_LOCAL_LOCK = threading.RLock()


@contextlib.contextmanager
def postgres_setting(conn: sa.Connection, name: str, value: str | None) -> Iterator[None]:
    """PostgreSQL: the block's statements run with setting ``name`` at ``value``, put back after.

    ``set_config(..., true)`` is ``SET LOCAL``: it never outlives the transaction, so a block that
    raises (its transaction rolled back) needs nothing put back. Other engines, or ``value`` None:
    nothing.
    """
    if conn.dialect.name != "postgresql" or value is None:
        yield
        return
    previous = conn.execute(sa.text("SELECT current_setting(:n)"), {"n": name}).scalar_one()
    conn.execute(sa.text("SELECT set_config(:n, :v, true)"), {"n": name, "v": value})
    try:
        yield
    finally:
        conn.execute(sa.text("SELECT set_config(:n, :v, true)"), {"n": name, "v": previous})


@contextlib.contextmanager
def duckdb_memory_limit(engine: sa.Engine, limit: str) -> Iterator[None]:
    """Run the block under DuckDB ``memory_limit`` ``limit``, then put the engine's own back.

    DuckDB's limit belongs to the database instance (every connection of this process to the
    file), so it is set and restored around the block, commit included; other engines: nothing.
    """
    if engine.dialect.name != "duckdb":
        yield
        return
    with engine.connect() as conn:
        conn.exec_driver_sql("SET memory_limit = '" + limit.replace("'", "''") + "'")
    try:
        yield
    finally:
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql("SET memory_limit = '" + settings.duckdb_memory_limit().replace("'", "''") + "'")
        except Exception:  # noqa: BLE001 - an invalidated instance is disposed by duckdb_refusal; its next connection starts afresh
            pass


def duckdb_refusal(engine: sa.Engine, exc: BaseException) -> str | None:
    """What to say, in one line, when DuckDB refused a transaction for memory or invalidated the database; else None.

    Out of memory, a commit that could not be written ("Failed to commit") and a fatal error
    ("database has been invalidated") roll the whole transaction back: the file keeps its last
    committed state. A fatal error leaves this process's database instance unusable, so the
    engine's connections are closed and the next one opens the file again.
    """
    if engine.dialect.name != "duckdb":
        return None
    import duckdb

    orig = getattr(exc, "orig", exc)
    fatal = isinstance(orig, duckdb.FatalException) or "invalidated" in str(orig)
    if not (fatal or isinstance(orig, (duckdb.OutOfMemoryException, duckdb.TransactionException))):
        return None
    try:
        engine.dispose()
    except Exception:  # noqa: BLE001 - closing connections of an invalidated database may fail too
        pass
    first = next((line.strip() for line in str(orig).splitlines() if line.strip()), type(orig).__name__)
    first = first if len(first) <= 110 else first[:107] + "..."
    return (f"DuckDB refused the load under memory_limit {settings.duckdb_load_memory_limit()} "
            "(SAFETY_HUB_DUCKDB_LOAD_MEMORY_LIMIT, else SAFETY_HUB_DUCKDB_MEMORY_LIMIT): "
            f"{first}; nothing of this delivery was committed: raise the limit and run the load again")
