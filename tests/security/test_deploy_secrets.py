"""Finding 5: the stack refuses placeholder secrets, publishes no port beyond the machine, and
gives each service only the secrets it needs.

A token forged with ``.env.example``'s ``change-me-jwt-secret`` was accepted: placeholders
worked as real secrets. Docker does not run here, so compose is checked by parsing it (as
``tests/unit/test_compose.py`` does) and the check compose runs first is run for real.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_TEXT = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
COMPOSE = yaml.safe_load(COMPOSE_TEXT)
SERVICES = COMPOSE["services"]
REFERENCE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)([^}]*)\}")
NON_SECRET = {"AIRFLOW_UID", "AIRFLOW_ADMIN_USERNAME", "AIRFLOW_CONN_SAFETY_HUB_ALERTS"}

# What each service needs (README, "Production"): every Airflow service the metadata DB and the
# keys they share; the warehouse's task login only where the warehouse is read or written (the
# feed-health page, the run-failure callback, tasks); agency tokens only where the agencies'
# connections are written (into the metadata DB, encrypted with the Fernet key) and served.
AIRFLOW_CORE = {"AIRFLOW_DB_PASSWORD", "AIRFLOW_JWT_SECRET", "AIRFLOW_FERNET_KEY", "AIRFLOW_API_SECRET_KEY", "REDIS_PASSWORD"}
NEEDS = {
    "postgres": {"POSTGRES_PASSWORD"},
    "redis": {"REDIS_PASSWORD"},
    "airflow-init": AIRFLOW_CORE | {"POSTGRES_PASSWORD", "WAREHOUSE_OWNER_PASSWORD", "WAREHOUSE_TASK_PASSWORD", "AIRFLOW_ADMIN_PASSWORD"},
    "airflow-apiserver": AIRFLOW_CORE | {"WAREHOUSE_TASK_PASSWORD"},
    "airflow-scheduler": AIRFLOW_CORE,
    "airflow-triggerer": AIRFLOW_CORE,
    "airflow-dag-processor": AIRFLOW_CORE | {"WAREHOUSE_TASK_PASSWORD"},
    "airflow-worker": AIRFLOW_CORE | {"WAREHOUSE_TASK_PASSWORD"},
    "simulator-connections": {"AIRFLOW_DB_PASSWORD", "AIRFLOW_FERNET_KEY", "EMB_API_TOKEN", "TC_API_TOKEN"},
    "simulator": {"EMB_API_TOKEN", "TC_API_TOKEN"},
}


def _env_example() -> dict[str, str]:
    pairs = (line.split("=", 1) for line in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines()
             if line.strip() and not line.lstrip().startswith("#"))
    return {k.strip(): v.strip() for k, v in pairs}


def _secret_names() -> set[str]:
    return set(_env_example()) - NON_SECRET


def _referenced(service: str) -> set[str]:
    """The ${VAR}s a service's definition (merged anchors included) interpolates."""
    text = yaml.safe_dump(SERVICES[service], allow_unicode=True, width=10_000)
    return {name for name, _ in REFERENCE.findall(text)}


def _generated() -> dict[str, str]:
    import secrets

    from cryptography.fernet import Fernet

    values = {name: secrets.token_hex(24) for name in _secret_names()}
    values["AIRFLOW_FERNET_KEY"] = Fernet.generate_key().decode()
    return values


def _check(values: dict[str, str]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in _secret_names()}
    return subprocess.run([sys.executable, "-m", "safety_hub", "check-secrets"], env={**env, **values},
                          capture_output=True, text=True, timeout=120)


# --- the check compose runs before anything else, run for real ------------------------------------


def test_check_refuses_every_placeholder_of_env_example():
    values = _env_example()
    done = _check({k: v for k, v in values.items() if k in _secret_names()})
    assert done.returncode == 2, done.stdout + done.stderr
    for name in _secret_names():
        assert name in done.stderr, f"{name} (a change-me placeholder) was not refused"
    assert "change-me" not in done.stderr, "the check must name the variable, never echo its value"


@pytest.mark.parametrize("name,value,why", [
    ("AIRFLOW_JWT_SECRET", "change-me-jwt-secret", "placeholder"),
    ("AIRFLOW_JWT_SECRET", "CHANGE_ME_please_0123456789", "placeholder"),
    ("AIRFLOW_JWT_SECRET", "", "empty"),
    ("WAREHOUSE_TASK_PASSWORD", "short", "characters"),
    ("AIRFLOW_FERNET_KEY", "0123456789abcdef0123456789abcdef", "Fernet"),
    ("WAREHOUSE_TASK_PASSWORD", "has spaces and @ 0123456789", "URL"),
])
def test_check_refuses_a_weak_secret(name, value, why):
    values = _generated() | {name: value}
    done = _check(values)
    assert done.returncode == 2 and name in done.stderr and why.lower() in done.stderr.lower(), done.stderr


def test_check_refuses_one_value_for_two_secrets():
    values = _generated()
    values["AIRFLOW_API_SECRET_KEY"] = values["AIRFLOW_JWT_SECRET"]
    done = _check(values)
    assert done.returncode == 2 and "AIRFLOW_API_SECRET_KEY" in done.stderr and "AIRFLOW_JWT_SECRET" in done.stderr, done.stderr


def test_check_passes_generated_secrets():
    done = _check(_generated())
    assert done.returncode == 0, done.stderr


# --- compose refuses to start --------------------------------------------------------------------


def test_compose_refuses_unset_or_empty_secrets():
    """``${VAR:?message}``: compose itself stops before creating anything when VAR is unset or empty."""
    secrets = _secret_names()
    references = [(name, rest) for name, rest in REFERENCE.findall(COMPOSE_TEXT) if name in secrets]
    assert {name for name, _ in references} == secrets
    loose = sorted({name for name, rest in references if not rest.startswith(":?")})
    assert not loose, f"interpolated without ${{VAR:?...}}, so an empty value would start: {loose}"


def test_compose_checks_secrets_before_any_service_starts():
    check = SERVICES["secrets-check"]
    assert "check-secrets" in " ".join(check["entrypoint"] + check.get("command", []))
    assert _secret_names() <= set(check["environment"]), "the check sees every secret"

    def waits_for_check(service: str, seen=()) -> bool:
        deps = SERVICES[service].get("depends_on") or {}
        if deps.get("secrets-check", {}).get("condition") == "service_completed_successfully":
            return True
        return any(waits_for_check(dep, (*seen, service)) for dep in deps if dep not in seen)

    late = [name for name in SERVICES if name != "secrets-check" and not waits_for_check(name)]
    assert not late, f"start without waiting for the secrets check: {late}"


def test_published_ports_bind_to_loopback():
    for name, service in SERVICES.items():
        for port in service.get("ports", []):
            host = port.get("host_ip") if isinstance(port, dict) else str(port).rsplit(":", 2)[0]
            assert host == "127.0.0.1", f"{name} publishes {port} on every interface: bind 127.0.0.1, put TLS in front"
    assert "127.0.0.1:8080:8080" in SERVICES["airflow-apiserver"]["ports"]


def test_no_service_reads_the_whole_env_file():
    assert not [name for name, s in SERVICES.items() if "env_file" in s]


@pytest.mark.parametrize("service", sorted(NEEDS))
def test_each_service_gets_only_the_secrets_it_needs(service):
    got = _referenced(service) & _secret_names()
    assert got == NEEDS[service], {"more than needed": sorted(got - NEEDS[service]), "missing": sorted(NEEDS[service] - got)}


def test_simulator_token_is_not_on_its_command_line():
    command = SERVICES["simulator"]["command"]
    command = " ".join(command) if isinstance(command, list) else command
    assert "${" not in command and "--token" not in command


# --- the native stack refuses too, before any process starts ---------------------------------------


@pytest.mark.parametrize("field,value", [("secret", "change-me-jwt-secret"), ("token", ""), ("admin_password", "admin")])
def test_native_stack_refuses_a_weak_secret_before_starting(tmp_path, monkeypatch, field, value):
    from safety_hub_dev import stack
    from safety_hub.ops.deploy_secrets import InsecureSecrets

    def started(*args, **kwargs):
        raise AssertionError("the stack started something with a weak secret")

    for name in ("create_databases", "flush_broker", "init", "service"):
        monkeypatch.setattr(stack, name, started)
    cfg = stack.StackConfig(tmp_path, **{field: value})
    with pytest.raises(InsecureSecrets, match="secret|token|password"):
        with stack.running_stack(cfg, progress=lambda line: None):
            pass


def test_native_stack_generates_secrets_that_pass(tmp_path):
    from safety_hub.ops.deploy_secrets import problems
    from safety_hub_dev.stack import StackConfig, stack_secrets

    assert problems(stack_secrets(StackConfig(tmp_path))) == []


def test_native_stack_listens_on_loopback_and_keeps_secrets_off_command_lines(tmp_path):
    from safety_hub_dev.stack import StackConfig, service_commands, stack_secrets

    cfg = StackConfig(tmp_path)
    commands = service_commands(cfg)
    assert {"simulator", "api-server", "worker-1"} <= set(commands)
    for name in ("simulator", "api-server"):
        args = commands[name]
        assert args[args.index("--host") + 1] == "127.0.0.1", name
    for name, args in commands.items():
        for secret_name, value in stack_secrets(cfg).items():
            assert not any(value in arg for arg in args), f"{secret_name} on the command line of {name}"
