"""Static checks of the production topology (docker-compose.yml, .env.example,
Dockerfile). Docker does not run on the dev machines, so this is what keeps the
compose file honest."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_TEXT = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
COMPOSE = yaml.safe_load(COMPOSE_TEXT)  # safe_load resolves the x-airflow-common anchors/merges
SERVICES = COMPOSE["services"]

AIRFLOW_COMMANDS = {
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
    "airflow-worker": "celery worker",
}
AIRFLOW_SERVICES = ["airflow-init", *AIRFLOW_COMMANDS]
EXPECTED_SERVICES = {"secrets-check", "postgres", "redis", "simulator", "simulator-connections", *AIRFLOW_SERVICES}

# Settings that must be identical in every Airflow service.
SHARED_SETTINGS = [
    "AIRFLOW__API_AUTH__JWT_SECRET",
    "AIRFLOW__CORE__FERNET_KEY",
    "AIRFLOW__API__SECRET_KEY",
    "AIRFLOW__CORE__EXECUTOR",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
    "AIRFLOW__CELERY__RESULT_BACKEND",
    "AIRFLOW__CELERY__BROKER_URL",
    "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
    "AIRFLOW__CORE__DAGS_FOLDER",
    "SAFETY_HUB_HOME",
    "PYTHONPATH",
]
# SAFETY_HUB_WAREHOUSE_URL is no longer shared (issue 15, finding 12): tasks, the feed-health page
# and the failure callback get the task login, airflow-init the owner's, the others none.
WAREHOUSE_LOGINS = {"airflow-worker": "safety_hub_task", "airflow-apiserver": "safety_hub_task",
                    "airflow-dag-processor": "safety_hub_task", "airflow-init": "safety_hub_owner"}
SECRET_SETTINGS = {
    "AIRFLOW__API_AUTH__JWT_SECRET": "AIRFLOW_JWT_SECRET",
    "AIRFLOW__CORE__FERNET_KEY": "AIRFLOW_FERNET_KEY",
    "AIRFLOW__API__SECRET_KEY": "AIRFLOW_API_SECRET_KEY",
}
NON_SECRET_ENV_KEYS = {"AIRFLOW_UID", "AIRFLOW_ADMIN_USERNAME", "AIRFLOW_CONN_SAFETY_HUB_ALERTS"}  # the last optional, may be empty


def _env_example() -> dict[str, str]:
    values: dict[str, str] = {}
    for line in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f".env.example line is not KEY=VALUE: {line!r}"
        assert key not in values, f"{key} defined twice in .env.example"
        values[key.strip()] = value.strip().strip("'\"")
    return values


def _env(service: str) -> dict[str, str]:
    env = SERVICES[service].get("environment", {})
    assert isinstance(env, dict), f"{service}: use the mapping form of environment"
    return env


def _command(service: str) -> str:
    cmd = SERVICES[service].get("command", "")
    return " ".join(cmd) if isinstance(cmd, list) else str(cmd)


def _mounts(service: str) -> dict[str, str]:
    """container path -> source of each volume of a service (short syntax)."""
    mounts = {}
    for spec in SERVICES[service].get("volumes", []):
        source, target = spec.split(":")[:2]
        mounts[target] = source
    return mounts


def _feeds() -> list[dict]:
    return [
        yaml.safe_load(p.read_text(encoding="utf-8"))
        for p in sorted((ROOT / "include" / "feeds").glob("*.yaml"))
        if not p.name.startswith("_")
    ]


def test_compose_spec_without_version_key():
    assert "version" not in COMPOSE
    assert "x-airflow-common" in COMPOSE


def test_every_expected_service_exists():
    assert EXPECTED_SERVICES <= set(SERVICES), EXPECTED_SERVICES - set(SERVICES)


@pytest.mark.parametrize("service,command", AIRFLOW_COMMANDS.items())
def test_airflow_service_runs_its_subcommand(service, command):
    assert _command(service) == command
    assert "entrypoint" not in SERVICES[service], f"{service} must keep the image's airflow entrypoint"


@pytest.mark.parametrize("setting", SHARED_SETTINGS)
def test_airflow_services_share_setting(setting):
    values = {service: _env(service).get(setting) for service in AIRFLOW_SERVICES}
    assert None not in values.values(), f"{setting} missing in {[s for s, v in values.items() if v is None]}"
    assert len(set(values.values())) == 1, f"{setting} differs between services: {values}"


@pytest.mark.parametrize("setting,variable", SECRET_SETTINGS.items())
def test_secrets_come_from_env_file_not_literals(setting, variable):
    # ${VAR:?message}: compose refuses to start when VAR is unset or empty (issue 15, finding 5).
    assert _env("airflow-apiserver")[setting].startswith(f"${{{variable}:?")


@pytest.mark.parametrize("service,login", WAREHOUSE_LOGINS.items())
def test_warehouse_login_per_service(service, login):
    assert re.fullmatch(rf"postgresql\+psycopg2://{login}:\$\{{[A-Z_]+_PASSWORD:\?[^}}]*\}}@postgres/warehouse",
                        _env(service)["SAFETY_HUB_WAREHOUSE_URL"])
    others = [s for s in AIRFLOW_SERVICES if s not in WAREHOUSE_LOGINS and "SAFETY_HUB_WAREHOUSE_URL" in _env(s)]
    assert not others, f"no warehouse login for {others}"


def test_executor_database_and_broker():
    env = _env("airflow-scheduler")
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].endswith("@postgres/airflow")
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql://")
    assert env["AIRFLOW__CELERY__BROKER_URL"] == "redis://:${REDIS_PASSWORD:?see .env.example}@redis:6379/0", "Redis asks for its password"
    assert _env("airflow-worker")["SAFETY_HUB_WAREHOUSE_URL"].endswith("@postgres/warehouse")
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"].lower() == "false"


def test_execution_api_points_at_the_api_server():
    url = _env("airflow-worker")["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"]
    assert re.fullmatch(r"http://airflow-apiserver:8080/execution/", url), url
    # Published on the host's loopback only; others reach it through a TLS proxy (issue 15, finding 5).
    assert SERVICES["airflow-apiserver"]["ports"] == ["127.0.0.1:8080:8080"]
    assert "/api/v2/monitor/health" in " ".join(SERVICES["airflow-apiserver"]["healthcheck"]["test"])


@pytest.mark.parametrize("service", AIRFLOW_SERVICES)
def test_code_and_data_mounted_in_airflow_service(service):
    mounts = _mounts(service)
    assert mounts.get("/opt/airflow/dags") == "./dags"
    assert mounts.get("/opt/airflow/plugins") == "./plugins"
    assert mounts.get("/opt/airflow/include") == "./include"
    assert mounts.get("/opt/airflow/safety_hub_home") == "safety-hub-home"
    # No env_file any more: each service gets only the secrets written into its environment
    # (issue 15, finding 5; tests/security/test_deploy_secrets.py checks which).
    assert "env_file" not in SERVICES[service]


def test_named_volumes_are_declared():
    used = {
        source
        for name in SERVICES
        for source in _mounts(name).values()
        if not source.startswith((".", "/"))
    }
    assert "safety-hub-home" in used
    assert used <= set(COMPOSE.get("volumes") or {}), used - set(COMPOSE.get("volumes") or {})


@pytest.mark.parametrize("service", AIRFLOW_COMMANDS)
def test_airflow_services_wait_for_init_and_backends(service):
    deps = SERVICES[service]["depends_on"]
    assert deps["airflow-init"]["condition"] == "service_completed_successfully"
    assert deps["secrets-check"]["condition"] == "service_completed_successfully"
    assert deps["postgres"]["condition"] == "service_healthy"
    assert deps["redis"]["condition"] == "service_healthy"


def test_worker_can_scale():
    worker = SERVICES["airflow-worker"]
    assert "container_name" not in worker
    for port in worker.get("ports", []):
        # Only container-side ports ("8793" or {target: 8793}) can be scaled.
        fixed = port.get("published") if isinstance(port, dict) else ":" in str(port)
        assert not fixed, f"worker publishes a fixed host port: {port}"


def test_init_migrates_db_and_creates_pools():
    """The pools are declared once (ops/pools.py): compose's init runs that declaration on the
    PostgreSQL warehouse's URL and sets no pool of its own."""
    script = _command("airflow-init")
    assert "airflow db migrate" in script
    assert "python -m safety_hub pools" in script
    assert "airflow pools set" not in script, "pools are declared in include/safety_hub/ops/pools.py only"
    assert "postgresql" in str(_env("airflow-init").get("SAFETY_HUB_WAREHOUSE_URL", "")), "the init's pools follow the PostgreSQL warehouse"


def test_init_provisions_the_roles_and_databases():
    # Was: the postgres image's init script created the warehouse DB, owned by the superuser
    # `airflow` that also owned Airflow's DB. Now postgres has only its superuser, and
    # airflow-init creates (at every start, idempotently) the roles and databases the URLs name
    # (issue 15, finding 12): `python -m safety_hub warehouse provision` with the CLI's defaults.
    from safety_hub.cli import build_parser

    pg = SERVICES["postgres"]
    assert pg["environment"] == {"POSTGRES_USER": "postgres", "POSTGRES_PASSWORD": "${POSTGRES_PASSWORD:?see .env.example}"}
    assert "pg_isready" in pg["healthcheck"]["test"]
    assert not [t for t in _mounts("postgres") if t.startswith("/docker-entrypoint-initdb.d/")]
    script = _command("airflow-init")
    assert "python -m safety_hub warehouse provision\n" in script and "python -m safety_hub warehouse migrate\n" in script
    defaults = build_parser().parse_args(["warehouse", "provision"])
    init = _env("airflow-init")
    assert init["SAFETY_HUB_PG_ADMIN_URL"].startswith("postgresql+psycopg2://postgres:") and init["SAFETY_HUB_PG_ADMIN_URL"].endswith("@postgres/postgres")
    assert init["SAFETY_HUB_WAREHOUSE_URL"].startswith(f"postgresql+psycopg2://{defaults.owner}:")
    assert init["SAFETY_HUB_WAREHOUSE_URL"].endswith(f"@postgres/{defaults.warehouse_db}")
    assert _env("airflow-worker")["SAFETY_HUB_WAREHOUSE_URL"].startswith(f"postgresql+psycopg2://{defaults.task}:")
    metadata = _env("airflow-scheduler")["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert metadata.startswith(f"postgresql+psycopg2://{defaults.metadata_role}:") and metadata.endswith(f"@postgres/{defaults.metadata_db}")


def test_compose_lists_no_feed_connection():
    """The feeds' connections are declared once (ops/connections.py from the registry, the simulator's
    values in safety_hub_dev/simulator/connections.py), not hand-listed in any service."""
    from safety_hub.ops.connections import connection_plan

    plan = {spec.conn_id.upper() for spec in connection_plan()}
    assert plan, "the registry names connections"
    listed = {name: sorted(k for k in _env(name) if k.startswith("AIRFLOW_CONN_")) for name in SERVICES}
    assert {name: found for name, found in listed.items() if found and found != ["AIRFLOW_CONN_SAFETY_HUB_ALERTS"]} == {}
    assert not [cid for cid in plan if f"AIRFLOW_CONN_{cid}" in COMPOSE_TEXT], "a feed connection is written in docker-compose.yml"


def _connections_args():
    """compose's simulator-connections command, parsed by the real CLI (the dev package's commands)."""
    from safety_hub.cli import build_parser

    argv = shlex.split(_command("simulator-connections"))
    assert argv[:3] == ["python", "-m", "safety_hub"], argv
    return build_parser().parse_args(argv[3:])


def test_connections_service_declares_every_registry_connection(tmp_path):
    """simulator-connections writes one connection per conn_id of the registry, of the type its
    delivery kind needs, pointing at the simulator service and the drops on the shared volume."""
    from safety_hub.ops.connections import connection_plan
    from safety_hub_dev.simulator.connections import simulator_connection_fields

    args = _connections_args()
    assert args.action == "connections" and args.url == "http://simulator:8765"
    assert f"--out {args.out}" in _command("simulator"), "the connections point where the simulator drops"
    conns = simulator_connection_fields(args.url, "master-token-0123456789", args.out)
    plan = connection_plan()
    assert {spec.conn_id: spec.conn_type for spec in plan} == {cid: conn["conn_type"] for cid, conn in conns.items()}
    assert {f["delivery"]["conn_id"] for f in _feeds()} == set(conns), "every feed YAML's conn_id"
    home = _env("simulator-connections")["SAFETY_HUB_HOME"]
    for cid, conn in conns.items():
        if conn["conn_type"] == "http":
            assert conn["host"] == "http://simulator:8765" and conn["extra"] == {"allow_http": True}, cid
        else:
            where = conn["extra"].get("path") or conn["extra"]["url"].removeprefix("sqlite:///")
            assert where.startswith(f"{home}/dropzone/"), (cid, where)


def test_connections_service_writes_into_the_metadata_db_with_the_agencies_tokens():
    """It runs the simulator's image (the dev package; the Airflow services' production image has no
    simulator), after airflow-init, on Airflow's database with the Fernet key every Airflow service
    shares; the tokens come from .env, refused when unset or empty (${VAR:?})."""
    service, env = SERVICES["simulator-connections"], _env("simulator-connections")
    assert service["build"] == {"context": ".", "target": "simulator"} and service["image"] == SERVICES["simulator"]["image"]
    assert service["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"
    assert SERVICES["simulator"]["depends_on"]["simulator-connections"]["condition"] == "service_completed_successfully"
    common = COMPOSE["x-airflow-common"]["environment"]
    for setting in ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__CORE__FERNET_KEY"):
        assert env[setting] == common[setting], setting
    assert env["EMB_API_TOKEN"] == "${EMB_API_TOKEN:?see .env.example}"
    assert env["TC_API_TOKEN"] == "${TC_API_TOKEN:?see .env.example}"
    assert "TOKEN" not in _command("simulator-connections"), "tokens never on a command line"
    assert not [k for k in _env("airflow-worker") if k.endswith("_API_TOKEN")], "the workers read the tokens from the connections"


def test_simulator_serves_api_and_writes_drops_to_shared_volume():
    command = _command("simulator")
    assert command.startswith("python -m safety_hub simulator run ")
    # The tokens come from the environment; on the command line `ps` showed them (issue 15, finding 12).
    assert "--port 8765" in command and "--token" not in command
    assert {"EMB_API_TOKEN", "TC_API_TOKEN"} <= set(_env("simulator"))
    assert "--out /opt/airflow/safety_hub_home/dropzone" in command
    assert _mounts("simulator").get("/opt/airflow/safety_hub_home") == "safety-hub-home"
    # Its own image: the production one plus the dev package (Dockerfile target `simulator`); every
    # Airflow service runs the production target, which holds no dev tooling (test_dockerfile.py).
    assert SERVICES["simulator"]["build"] == {"context": ".", "target": "simulator"}
    assert SERVICES["simulator"]["image"] != SERVICES["airflow-worker"]["image"]
    assert SERVICES["airflow-worker"]["build"] == {"context": ".", "target": "production"}


def test_every_compose_variable_is_in_env_example():
    # ${VAR} and ${VAR:-default}; $${VAR} is an escaped literal for the container shell.
    referenced = set(re.findall(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)", COMPOSE_TEXT))
    assert {"POSTGRES_PASSWORD", "AIRFLOW_JWT_SECRET", "AIRFLOW_FERNET_KEY", "EMB_API_TOKEN", "TC_API_TOKEN"} <= referenced
    missing = referenced - set(_env_example())
    assert not missing, f"used in docker-compose.yml but not in .env.example: {sorted(missing)}"


def test_env_example_holds_only_placeholders():
    from safety_hub.ops.deploy_secrets import DEPLOY_SECRETS

    values = _env_example()
    secrets = {k: v for k, v in values.items() if k not in NON_SECRET_ENV_KEYS}
    assert set(secrets) == set(DEPLOY_SECRETS), "the secrets check knows every secret of .env.example"
    for key, value in secrets.items():
        assert value.startswith("change-me"), f"{key} in .env.example must be a change-me placeholder"
    for key, value in values.items():
        # Nothing that looks generated: fernet keys, long hex / base64 strings.
        assert not re.fullmatch(r"[A-Za-z0-9+/_=-]{24,}", value) or value.startswith("change-me"), key


def test_image_matches_pinned_airflow():
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    base = re.search(r"^FROM\s+apache/airflow:(\S+?)-python3\.11(?:\s+AS\s+\S+)?\s*$", dockerfile, re.MULTILINE)
    assert base, "Dockerfile must build FROM apache/airflow:<version>-python3.11"
    pinned = re.search(r"^apache-airflow==(\S+)", (ROOT / "requirements.txt").read_text(encoding="utf-8"), re.MULTILINE)
    assert pinned and base.group(1) == pinned.group(1)
    assert "requirements.txt" in dockerfile and "/opt/airflow/include" in dockerfile


# --- docker-compose.yml and the native stack of `make stack-test` describe one topology ---

# Settings only the native stack sets: where things are on one machine (compose has them from
# the image's defaults or its own container per worker) and its size.
NATIVE_ONLY = {
    "AIRFLOW_HOME",  # the image's /opt/airflow
    "AIRFLOW__CORE__PLUGINS_FOLDER",  # $AIRFLOW_HOME/plugins in the image
    "AIRFLOW__API__BASE_URL",  # the published port; compose serves the UI on :8080
    "AIRFLOW__CORE__HOSTNAME_CALLABLE",  # two workers on one host need two names; containers have their own
    "AIRFLOW__CELERY__WORKER_CONCURRENCY",  # 2 on the 2-core test machine; compose keeps Airflow's default
}


# Settings only compose sets on a service: Celery's warm shutdown under the image's dumb-init, and
# the optional alert connection from .env (the stack test passes its receiver as extra_env).
COMPOSE_ONLY = {"DUMB_INIT_SETSID", "AIRFLOW_CONN_SAFETY_HUB_ALERTS"}


def _native_env(tmp_path, service: str | None = None) -> dict[str, str]:
    from safety_hub_dev.stack import StackConfig, service_env, stack_env

    cfg = StackConfig(tmp_path)
    return stack_env(cfg) if service is None else service_env(cfg, service)


def test_native_stack_sets_the_same_settings_as_compose(tmp_path):
    native = set(_native_env(tmp_path))
    compose = set(COMPOSE["x-airflow-common"]["environment"])
    assert native - NATIVE_ONLY == compose, {"only native": sorted(native - NATIVE_ONLY - compose), "only compose": sorted(compose - native)}


@pytest.mark.parametrize("service,command", AIRFLOW_COMMANDS.items())
def test_native_services_get_what_their_compose_service_gets(tmp_path, service, command):
    # Each service's own additions (warehouse login, agency connections) are per service since
    # issue 15; the native stack hands them out the same way.
    native = set(_native_env(tmp_path, command.split()[-1])) - NATIVE_ONLY
    compose = set(_env(service)) - COMPOSE_ONLY
    assert native == compose, {"only native": sorted(native - compose), "only compose": sorted(compose - native)}


def test_native_stack_and_compose_agree_on_every_fixed_value(tmp_path):
    native, compose = _native_env(tmp_path, "worker"), _env("airflow-worker")
    fixed = {k: v for k, v in compose.items() if "${" not in v and "/opt/airflow" not in v and "://" not in v and k not in COMPOSE_ONLY}
    assert fixed, "compose sets fixed values (executor, examples, health check)"
    assert {k: native[k] for k in fixed} == fixed
    assert native["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://")
    assert native["AIRFLOW__CELERY__RESULT_BACKEND"] == "db+" + native["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].replace("+psycopg2", "")
    assert native["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://")
    assert native["SAFETY_HUB_WAREHOUSE_URL"].startswith("postgresql+psycopg2://")


def test_native_stack_runs_the_same_airflow_commands_as_compose():
    from safety_hub_dev.stack import SERVICES

    assert {*SERVICES, "celery worker"} == set(AIRFLOW_COMMANDS.values())


def test_native_stack_declares_the_connections_as_compose_does(tmp_path):
    """The native stack runs compose's simulator-connections command (its own URL and folder), so
    its Celery workers, like compose's, read the feeds' connections from the metadata DB."""
    from safety_hub_dev.stack import StackConfig, connections_command, service_env

    cfg = StackConfig(tmp_path)
    native, compose = connections_command(cfg), shlex.split(_command("simulator-connections"))
    assert native[1:5] == compose[1:5] == ["-m", "safety_hub", "simulator", "connections"]
    assert [a for a in native if a.startswith("--")] == [a for a in compose if a.startswith("--")]
    assert native[native.index("--url") + 1] == cfg.sim_url and native[native.index("--out") + 1] == str(cfg.dropzone)
    assert not [k for k in service_env(cfg, "worker") if k.startswith("AIRFLOW_CONN_")]
