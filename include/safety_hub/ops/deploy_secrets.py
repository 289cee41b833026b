"""The deployment's secrets, and the check that refuses to start the stack with a weak one.

``docker-compose.yml`` runs ``python -m safety_hub check-secrets`` (service ``secrets-check``)
before any other service, and the native stack (``stack.py``) calls :func:`refuse_insecure`
before it starts a process. A secret is refused when it is empty, still a placeholder of
``.env.example`` (``change-me…``), shorter than 16 characters, not URL-safe where it sits in a
URL or JSON value, not a Fernet key where one is needed, or the same value as another secret.
Messages name the variable and the rule, never the value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

MIN_LENGTH = 16
# .env.example's placeholders and the usual stand-ins for "fill me in".
PLACEHOLDER = re.compile(r"change[-_ .]?me|changeit|placeholder|replace[-_ ]?me|your[-_ ]|<[^>]*>|^x+$", re.IGNORECASE)
# Defaults known from this project's code, docs and tests: never real secrets.
KNOWN_DEFAULTS = {"demo-token-not-a-secret", "test-token-0123456789", "sim-token", "airflow", "postgres", "admin", "password", "secret"}
# RFC 3986 unreserved characters: safe inside a database URL and inside a JSON string.
URL_SAFE = re.compile(r"[A-Za-z0-9._~-]+")


@dataclass(frozen=True)
class Secret:
    name: str
    how: str = "openssl rand -hex 24"
    url_safe: bool = True  # embedded in a database URL or a connection's JSON
    fernet: bool = False


FERNET_HOW = 'python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'

# Every secret of .env.example, with where it goes (README, "Production").
DEPLOY_SECRETS = {s.name: s for s in (
    Secret("POSTGRES_PASSWORD"),         # PostgreSQL's superuser: the postgres service and airflow-init only
    Secret("AIRFLOW_DB_PASSWORD"),       # role airflow: Airflow's metadata DB (every Airflow service)
    Secret("WAREHOUSE_OWNER_PASSWORD"),  # role safety_hub_owner: the warehouse's schema (airflow-init)
    Secret("WAREHOUSE_TASK_PASSWORD"),   # role safety_hub_task: rows of the warehouse (tasks, feed health)
    Secret("AIRFLOW_JWT_SECRET", "openssl rand -hex 32", url_safe=False),
    Secret("AIRFLOW_FERNET_KEY", FERNET_HOW, url_safe=False, fernet=True),
    Secret("AIRFLOW_API_SECRET_KEY", "openssl rand -hex 32", url_safe=False),
    Secret("REDIS_PASSWORD"),            # Redis's requirepass: the Celery broker URL of every Airflow service
    Secret("AIRFLOW_ADMIN_PASSWORD", url_safe=False),
    Secret("EMB_API_TOKEN"),             # the EMB API's bearer token (emb_api connection, simulator)
    Secret("TC_API_TOKEN"),              # the TC API's bearer token (tc_api connection, simulator)
)}


class InsecureSecrets(RuntimeError):
    """One or more secrets would make the deployment forgeable; ``problems`` lists them, one line each."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("refusing to start with weak secrets: " + "; ".join(problems))


def _problem(secret: Secret, value: str | None) -> str | None:
    if value is None or not value.strip():
        return f"{secret.name} is empty or unset: generate one ({secret.how})"
    if PLACEHOLDER.search(value) or value.lower() in KNOWN_DEFAULTS:
        return f"{secret.name} is still a placeholder or a known default: replace it ({secret.how})"
    if len(value) < MIN_LENGTH:
        return f"{secret.name} has {len(value)} characters, fewer than {MIN_LENGTH}: use a generated one ({secret.how})"
    if secret.url_safe and not URL_SAFE.fullmatch(value):
        return f"{secret.name} holds characters that are not URL-safe (it sits in a URL or JSON value): use letters, digits and ._~- ({secret.how})"
    if secret.fernet:
        from cryptography.fernet import Fernet

        try:
            Fernet(value.encode())
        except (ValueError, TypeError):
            return f"{secret.name} is not a Fernet key (32 url-safe base64-encoded bytes): {secret.how}"
    return None


def problems(values: Mapping[str, str | None]) -> list[str]:
    """What is wrong with each of ``values`` (secret name -> value), in order; [] when all are fit.

    Names of :data:`DEPLOY_SECRETS` get their own rules; any other name (the native stack's
    simulator token) the general ones.
    """
    found, seen = [], {}
    for name, value in values.items():
        problem = _problem(DEPLOY_SECRETS.get(name, Secret(name, url_safe=False)), value)
        if problem:
            found.append(problem)
        elif value in seen:
            found.append(f"{name} has the same value as {seen[value]}: give every secret its own")
        else:
            seen[value] = name
    return found


def refuse_insecure(values: Mapping[str, str | None]) -> None:
    """Raise :class:`InsecureSecrets` unless every secret in ``values`` is fit for use."""
    found = problems(values)
    if found:
        raise InsecureSecrets(found)
