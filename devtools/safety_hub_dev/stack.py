"""The production topology, run natively from the project's venv: what docker-compose.yml runs.

Airflow on PostgreSQL metadata with the CeleryExecutor and a Redis broker; the API server,
scheduler, DAG processor, triggerer and N Celery workers as separate processes; the warehouse
on PostgreSQL; the agency simulator serving its API. ``make stack-test`` runs the pipeline
through it (``tests/stack/test_stack.py``).

The Airflow settings every service shares are in :func:`stack_env`, what only some services get
(the warehouse's task login) in :func:`service_env`, and
``tests/unit/test_compose.py`` holds them equal to docker-compose.yml's ``x-airflow-common``
block and its services, so the two descriptions of the topology cannot drift apart. What differs
is only where things are (127.0.0.1 instead of service names, a work directory instead of
volumes) and how big (worker concurrency for a 2-core machine). The agencies' connections are
written into the metadata DB by the command compose's ``simulator-connections`` runs
(:func:`connections_command`), so the Celery workers read them as compose's do.

As in compose: the stack refuses to start with a weak secret (:func:`running_stack` checks them
before anything starts; its own are generated at random), everything listens on 127.0.0.1, no
secret is on a command line, Airflow's database has its own role and the warehouse an owner
role (schema, ``warehouse migrate``) and a task login (rows only; ``warehouse.roles``).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from safety_hub.ops import lineage
from safety_hub.config import settings
from safety_hub.ops.deploy_secrets import refuse_insecure

log = logging.getLogger(__name__)
BIN = Path(sys.executable).parent
# The Airflow services docker-compose.yml runs, by their command (the worker is scaled).
SERVICES = ("api-server", "scheduler", "dag-processor", "triggerer")
WORKER_NAME_VAR = "SAFETY_HUB_WORKER_NAME"


def worker_hostname() -> str:
    """``[core] hostname_callable`` of the native stack: the worker's name when several
    Celery workers share one machine (each container has its own host name in compose)."""
    from airflow.utils.net import getfqdn

    return os.environ.get(WORKER_NAME_VAR) or getfqdn()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def reachable(host: str, port: int, timeout: float = 2.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


@contextmanager
def service(args: list[str], env: dict[str, str], log_path: Path, stop_timeout: float = 60):
    """Run ``args`` as its own process group, output to ``log_path``; on exit SIGTERM the
    group (Airflow's services and Celery shut down warm on it), SIGKILL after ``stop_timeout``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as out:
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield proc
    finally:
        stop(proc, stop_timeout)


def stop(proc: subprocess.Popen, timeout: float = 60) -> None:
    """Stop a process started by :func:`service` and everything in its process group."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        # the leader is gone; children it left (task processes) go with the group
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        break


def wait_http(url: str, proc: subprocess.Popen, log_path: Path, timeout: float = 180) -> None:
    """Wait until ``url`` answers 2xx, failing early (with the log's tail) if ``proc`` dies."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{' '.join(map(str, proc.args))} exited with {proc.returncode}:\n{tail(log_path)}")
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except (OSError, urllib.error.HTTPError):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer within {timeout:.0f}s:\n{tail(log_path)}") from None
            time.sleep(1)


def tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except FileNotFoundError:
        return f"({path} not written)"


@dataclass
class StackConfig:
    """Where the native stack's parts live. PostgreSQL and Redis are the machine's own."""

    workdir: Path
    postgres: str = "postgresql+psycopg2://postgres@127.0.0.1:5432"  # server URL, no database
    metadata_db: str = "safety_hub_stack_airflow"
    warehouse_db: str = "safety_hub_stack_warehouse"
    # One of Redis' databases 1-15 by process id (the PostgreSQL databases carry the pid too), so
    # two stacks on one machine rarely share (and flush) one broker database.
    redis: str = field(default_factory=lambda: f"redis://127.0.0.1:6379/{1 + os.getpid() % 15}")
    workers: int = 2
    worker_concurrency: int = 2  # docker-compose keeps Airflow's default (16); this is a 2-core machine
    api_port: int = field(default_factory=free_port)
    sim_port: int = field(default_factory=free_port)
    token: str = field(default_factory=lambda: secrets.token_hex(16))  # the simulator's master: each agency's token derives from it
    secret: str = field(default_factory=lambda: secrets.token_hex(32))  # JWT
    api_secret_key: str = field(default_factory=lambda: secrets.token_hex(32))
    fernet_key: str = field(default_factory=lambda: _fernet_key())
    admin_user: str = "admin"
    admin_password: str = field(default_factory=lambda: secrets.token_hex(12))
    metadata_password: str = field(default_factory=lambda: secrets.token_hex(16))
    owner_password: str = field(default_factory=lambda: secrets.token_hex(16))
    task_password: str = field(default_factory=lambda: secrets.token_hex(16))

    def __post_init__(self) -> None:
        self.workdir = Path(self.workdir)

    def database_url(self, db: str) -> str:
        """``db`` as the server's superuser (set-up, clean-up and the tests' checks)."""
        return f"{self.postgres}/{db}"

    def login_url(self, role: str, password: str, db: str) -> str:
        import sqlalchemy as sa

        return sa.make_url(self.postgres).set(username=role, password=password, database=db).render_as_string(hide_password=False)

    # The roles carry their database's name: roles belong to the whole server, shared by stacks.
    @property
    def metadata_role(self) -> str:
        return self.metadata_db

    @property
    def owner_role(self) -> str:
        return f"{self.warehouse_db}_owner"

    @property
    def task_role(self) -> str:
        return f"{self.warehouse_db}_task"

    @property
    def owner_url(self) -> str:
        return self.login_url(self.owner_role, self.owner_password, self.warehouse_db)

    @property
    def task_url(self) -> str:
        return self.login_url(self.task_role, self.task_password, self.warehouse_db)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def sim_url(self) -> str:
        return f"http://127.0.0.1:{self.sim_port}"

    @property
    def dropzone(self) -> Path:
        return self.workdir / "hub" / "dropzone"

    @property
    def logs(self) -> Path:
        return self.workdir / "services"


def _fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


def stack_secrets(cfg: StackConfig) -> dict[str, str]:
    """The stack's secrets under the names compose gives them (``deploy_secrets``)."""
    return {
        "AIRFLOW_DB_PASSWORD": cfg.metadata_password,
        "WAREHOUSE_OWNER_PASSWORD": cfg.owner_password,
        "WAREHOUSE_TASK_PASSWORD": cfg.task_password,
        "AIRFLOW_JWT_SECRET": cfg.secret,
        "AIRFLOW_FERNET_KEY": cfg.fernet_key,
        "AIRFLOW_API_SECRET_KEY": cfg.api_secret_key,
        "AIRFLOW_ADMIN_PASSWORD": cfg.admin_password,
        "SAFETY_HUB_SIMULATOR_TOKEN": cfg.token,
    }


def stack_env(cfg: StackConfig) -> dict[str, str]:
    """Every variable the Airflow services share: the native twin of compose's ``x-airflow-common``."""
    metadata = cfg.login_url(cfg.metadata_role, cfg.metadata_password, cfg.metadata_db)
    passwords = cfg.workdir / "auth" / "simple_auth_manager_passwords.json"
    return {
        "AIRFLOW_HOME": str(cfg.workdir / "airflow"),
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata,
        "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + metadata.replace("+psycopg2", ""),
        "AIRFLOW__CELERY__BROKER_URL": cfg.redis,
        "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS": "safety_hub.ops.celery_config.CELERY_CONFIG",
        "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": "86400",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "false",
        "AIRFLOW__CORE__DAGS_FOLDER": str(settings.PROJECT_DIR / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(settings.PROJECT_DIR / "plugins"),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{cfg.api_url}/execution/",
        "AIRFLOW__API__BASE_URL": cfg.api_url,
        "AIRFLOW__API_AUTH__JWT_SECRET": cfg.secret,
        "AIRFLOW__CORE__FERNET_KEY": cfg.fernet_key,
        "AIRFLOW__API__SECRET_KEY": cfg.api_secret_key,
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "true",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{cfg.admin_user}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": "safety_hub_dev.stack.worker_hostname",
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(cfg.worker_concurrency),
        "PYTHONPATH": str(settings.PROJECT_DIR / "include"),
        "SAFETY_HUB_HOME": str(cfg.workdir / "hub"),
        **lineage.airflow_settings(cfg.workdir / "hub"),
    }


# Services that read or write the warehouse: the Feed health page (api-server), DAG-level failure
# callbacks (dag-processor: feed health in the alert) and tasks (worker). The others get no login.
WAREHOUSE_USERS = ("api-server", "dag-processor", "worker")


def service_env(cfg: StackConfig, service: str) -> dict[str, str]:
    """What one Airflow service (``api-server``, ``scheduler``, ``dag-processor``, ``triggerer``,
    ``worker``) gets: :func:`stack_env` plus, as in compose, the warehouse's task login where
    the warehouse is used. The agencies' connections are in the metadata DB (:func:`init`)."""
    if service not in (*SERVICES, "worker"):
        raise ValueError(f"unknown service {service!r}")
    env = stack_env(cfg)
    if service in WAREHOUSE_USERS:
        env["SAFETY_HUB_WAREHOUSE_URL"] = cfg.task_url
    return env


def simulator_env(cfg: StackConfig) -> dict[str, str]:
    """The simulator's own variables: its token (from which each agency's is derived), no Airflow secret."""
    from safety_hub_dev.simulator.server import MASTER_TOKEN_VAR

    return {"PYTHONPATH": str(settings.PROJECT_DIR / "include"), "SAFETY_HUB_HOME": str(cfg.workdir / "hub"),
            MASTER_TOKEN_VAR: cfg.token}


def service_commands(cfg: StackConfig) -> dict[str, list[str]]:
    """The command line of every process, in start order. No secret is on one (``ps`` shows them)."""
    commands = {
        "simulator": [sys.executable, "-m", "safety_hub", "simulator", "serve", "--host", "127.0.0.1", "--port", str(cfg.sim_port)],
        "api-server": [str(BIN / "airflow"), "api-server", "--host", "127.0.0.1", "--port", str(cfg.api_port)],
        **{name: [str(BIN / "airflow"), name] for name in SERVICES[1:]},
    }
    for i in range(1, cfg.workers + 1):
        commands[f"worker-{i}"] = [str(BIN / "airflow"), "celery", "worker", "--celery-hostname", f"worker-{i}@%h"]
    return commands


def _admin_sql(cfg: StackConfig, statement: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(cfg.database_url("postgres"), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(statement))
    finally:
        engine.dispose()


def create_databases(cfg: StackConfig) -> None:
    """Fresh metadata and warehouse databases with their roles (what compose's airflow-init makes:
    ``python -m safety_hub warehouse provision``)."""
    import sqlalchemy as sa

    from safety_hub.warehouse.roles import provision

    for db in (cfg.metadata_db, cfg.warehouse_db):
        _admin_sql(cfg, f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    admin = sa.create_engine(cfg.database_url("postgres"))
    try:
        provision(admin, warehouse_db=cfg.warehouse_db, owner=cfg.owner_role, owner_password=cfg.owner_password,
                  task=cfg.task_role, task_password=cfg.task_password, metadata_db=cfg.metadata_db,
                  metadata_role=cfg.metadata_role, metadata_password=cfg.metadata_password)
    finally:
        admin.dispose()


def drop_databases(cfg: StackConfig) -> None:
    """Drop the stack's databases, then its roles."""
    import sqlalchemy as sa

    from safety_hub.warehouse.roles import drop_roles

    for db in (cfg.metadata_db, cfg.warehouse_db):
        _admin_sql(cfg, f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    admin = sa.create_engine(cfg.database_url("postgres"))
    try:
        drop_roles(admin, (cfg.metadata_role, cfg.owner_role, cfg.task_role))
    finally:
        admin.dispose()


def flush_broker(cfg: StackConfig) -> None:
    """Empty the stack's Redis database, so no message of an earlier stack is delivered."""
    import redis

    redis.Redis.from_url(cfg.redis).flushdb()


def init(cfg: StackConfig, env: dict[str, str], progress=print) -> None:
    """What compose's ``airflow-init`` does after provisioning: migrate Airflow's DB and (as the
    warehouse's owner) the warehouse schema, create the pools, write the admin's password; then
    what its ``simulator-connections`` does: the feeds' connections into the metadata DB."""
    passwords = Path(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])
    passwords.parent.mkdir(parents=True, exist_ok=True)
    passwords.write_text(json.dumps({cfg.admin_user: cfg.admin_password}))
    passwords.chmod(0o600)
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    progress(f"migrating the Airflow metadata DB {cfg.metadata_db} (PostgreSQL, role {cfg.metadata_role})")
    subprocess.run([str(BIN / "airflow"), "db", "migrate"], env=env, check=True, stdout=subprocess.DEVNULL, timeout=600)
    progress(f"migrating the warehouse {cfg.warehouse_db} as its owner {cfg.owner_role}")
    subprocess.run([sys.executable, "-m", "safety_hub", "warehouse", "migrate"], env={**env, "SAFETY_HUB_WAREHOUSE_URL": cfg.owner_url},
                   check=True, stdout=subprocess.DEVNULL, timeout=300)
    subprocess.run([sys.executable, "-m", "safety_hub", "pools"], env={**env, "SAFETY_HUB_WAREHOUSE_URL": cfg.owner_url},
                   check=True, stdout=subprocess.DEVNULL, timeout=300)
    declare_simulator_connections(cfg, env)


def connections_command(cfg: StackConfig) -> list[str]:
    """What compose's ``simulator-connections`` runs: the feeds' connections, pointing at the simulator."""
    return [sys.executable, "-m", "safety_hub", "simulator", "connections", "--url", cfg.sim_url, "--out", str(cfg.dropzone)]


def declare_simulator_connections(cfg: StackConfig, env: dict[str, str]) -> None:
    """The feeds' connections into the metadata DB, as compose's ``simulator-connections`` writes
    them; the workers read them from there (through the API server), not from their environment."""
    from safety_hub_dev.simulator.server import MASTER_TOKEN_VAR

    subprocess.run(connections_command(cfg), env={**env, MASTER_TOKEN_VAR: cfg.token}, check=True, stdout=subprocess.DEVNULL, timeout=300)


@dataclass
class RunningStack:
    cfg: StackConfig
    env: dict[str, str]
    processes: dict[str, subprocess.Popen]

    def token(self) -> str:
        """A JWT for the admin user (what the UI's login does)."""
        request = urllib.request.Request(f"{self.cfg.api_url}/auth/token", method="POST",
                                         data=json.dumps({"username": self.cfg.admin_user, "password": self.cfg.admin_password}).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())["access_token"]

    def api(self, method: str, path: str, body: dict | None = None, token: str | None = None) -> dict:
        """One call of Airflow's public REST API (``/api/v2``)."""
        request = urllib.request.Request(f"{self.cfg.api_url}/api/v2{path}", method=method,
                                         data=json.dumps(body).encode() if body is not None else None,
                                         headers={"Authorization": f"Bearer {token or self.token()}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read() or b"{}")

    def check_alive(self) -> None:
        for name, proc in self.processes.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{tail(self.cfg.logs / f'{name}.log')}")


@contextmanager
def running_stack(cfg: StackConfig, progress=print, *, schedule: bool = True, extra_env: dict[str, str] | None = None):
    """Start the whole topology, yield a :class:`RunningStack`, stop every process on exit.

    ``schedule=False`` turns off the scheduler's cron and asset scheduling
    (``[scheduler] use_job_schedule``): only runs triggered through the API are created.
    ``extra_env`` is added to every Airflow service's environment (e.g. the alert connection).
    Nothing starts while a secret of ``cfg`` is weak (:class:`~safety_hub.ops.deploy_secrets.InsecureSecrets`).
    """
    refuse_insecure(stack_secrets(cfg))
    # Not this machine's own Airflow or safety hub settings, nor agency tokens (the simulator's come from cfg).
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "SAFETY_HUB_")) and not k.endswith("_API_TOKEN")}
    added = dict(extra_env or {})
    if not schedule:
        added["AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE"] = "false"
    env = {**inherited, **stack_env(cfg), **added}
    create_databases(cfg)
    flush_broker(cfg)
    init(cfg, env, progress)
    processes: dict[str, subprocess.Popen] = {}
    commands = service_commands(cfg)
    with ExitStack() as stack:
        def start(name: str, service_vars: dict[str, str]) -> subprocess.Popen:
            processes[name] = stack.enter_context(service(commands[name], {**inherited, **service_vars}, cfg.logs / f"{name}.log"))
            return processes[name]

        progress(f"agency simulator on {cfg.sim_url}")
        sim = start("simulator", simulator_env(cfg))
        progress(f"api-server on {cfg.api_url}")
        api = start("api-server", {**service_env(cfg, "api-server"), **added})
        for name in SERVICES[1:]:
            start(name, {**service_env(cfg, name), **added})
        for i in range(1, cfg.workers + 1):
            name = f"worker-{i}"
            start(name, {**service_env(cfg, "worker"), **added,
                         WORKER_NAME_VAR: name, "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port())})
        progress(f"{cfg.workers} Celery workers (concurrency {cfg.worker_concurrency} each), scheduler, dag-processor, triggerer")
        wait_http(f"{cfg.sim_url}/health", sim, cfg.logs / "simulator.log", timeout=60)
        wait_http(f"{cfg.api_url}/api/v2/monitor/health", api, cfg.logs / "api-server.log")
        try:
            yield RunningStack(cfg, env, processes)
        finally:
            progress("stopping every process of the stack")
    still = [name for name, proc in processes.items() if proc.poll() is None]
    if still:  # pragma: no cover - service() kills what SIGTERM did not stop
        log.error("still running after stop: %s", still)


def wait_for_runs(stack: RunningStack, runs: list[tuple[str, str]], timeout: float, progress=print, poll: float = 5) -> dict[tuple[str, str], str]:
    """Poll ``(dag_id, run_id)`` runs until all are finished; return their final states."""
    finished = {"success", "failed"}
    states: dict[tuple[str, str], str] = {}
    started = time.monotonic()
    token, token_at = stack.token(), started
    reported = None
    while True:
        stack.check_alive()
        if time.monotonic() - token_at > 600:  # tokens expire; take a fresh one now and then
            token, token_at = stack.token(), time.monotonic()
        for dag_id, run_id in runs:
            if states.get((dag_id, run_id)) not in finished:
                states[(dag_id, run_id)] = stack.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}", token=token)["state"]
        pending = [r for r in runs if states[r] not in finished]
        if not pending:
            return states
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"{len(pending)} runs unfinished after {timeout:.0f}s, e.g. {pending[:3]}")
        if len(pending) != reported:
            progress(f"  {len(runs) - len(pending)}/{len(runs)} runs finished ({time.monotonic() - started:.0f}s)")
            reported = len(pending)
        time.sleep(poll)


def trigger(stack: RunningStack, dag_id: str, logical_date: dt.datetime | None, conf: dict | None = None, token: str | None = None) -> str:
    """Unpause ``dag_id`` and create a run through the REST API; the scheduler queues it."""
    stack.api("PATCH", f"/dags/{dag_id}", {"is_paused": False}, token=token)
    body = {"logical_date": logical_date.isoformat() if logical_date else None, "conf": conf or {}}
    return stack.api("POST", f"/dags/{dag_id}/dagRuns", body, token=token)["dag_run_id"]


def backfill(stack: RunningStack, dag_id: str, first: dt.date, last: dt.date, schedule: str, token: str | None = None,
             max_active_runs: int = 1) -> tuple[int, list[tuple[str, str]]]:
    """A history import the way Airflow makes one: unpause ``dag_id`` and create a backfill over the
    business days ``first`` .. ``last`` (``POST /backfills``; the scheduler runs it, in the UI under
    the DAG's backfills); return the backfill's id and its runs.

    ``reprocess_behavior: failed``: creating the same backfill again after a failure runs only the
    days that failed (the docs' "History import").
    """
    from safety_hub.ops.dagkit import logical_date_for

    stack.api("PATCH", f"/dags/{dag_id}", {"is_paused": False}, token=token)
    body = {"dag_id": dag_id, "from_date": logical_date_for(first, schedule).isoformat(),
            "to_date": logical_date_for(last, schedule).isoformat(), "max_active_runs": max_active_runs,
            "reprocess_behavior": "failed"}
    backfill_id = stack.api("POST", "/backfills", body, token=token)["id"]
    runs = stack.api("GET", f"/dags/{dag_id}/dagRuns?run_type=backfill&limit=1000", token=token)["dag_runs"]
    return backfill_id, [(dag_id, r["dag_run_id"]) for r in runs]
