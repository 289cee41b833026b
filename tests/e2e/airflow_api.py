"""A real Airflow API server for a test (``airflow api-server``), as a subprocess with the
session's environment plus the test's overrides (the SimpleAuthManager with a known user; a free
port), stopped with its process group (``safety_hub_dev.stack.service``). The whole production
topology, scheduler and Celery workers included, is ``safety_hub_dev.stack`` (``make stack-test``).
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from safety_hub_dev.stack import free_port, service, wait_http

USER, PASSWORD = "ops", "ops-password-not-a-secret"
AIRFLOW = str(Path(sys.executable).parent / "airflow")


@dataclass
class ApiServer:
    url: str
    log: Path

    def token(self, username: str = USER, password: str = PASSWORD) -> str:
        """A JWT from the SimpleAuthManager's token endpoint (what the UI's login does)."""
        request = urllib.request.Request(f"{self.url}/auth/token", method="POST",
                                         data=json.dumps({"username": username, "password": password}).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())["access_token"]


def _auth_env(workdir: Path, role: str) -> dict[str, str]:
    passwords = workdir / "simple_auth_manager_passwords.json"
    passwords.write_text(json.dumps({USER: PASSWORD}))
    return {"AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:{role}",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords)}


@contextmanager
def api_server(workdir: Path, env: dict[str, str] | None = None, role: str = "viewer", timeout: float = 120, port: int | None = None):
    """Yield a running API server; ``env`` overrides the session's environment."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    full_env = {**os.environ, **_auth_env(workdir, role), "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}", **(env or {})}
    server = ApiServer(f"http://127.0.0.1:{port}", workdir / "api-server.log")
    with service([AIRFLOW, "api-server", "--port", str(port), "--host", "127.0.0.1"], full_env, server.log) as proc:
        wait_http(f"{server.url}/api/v2/monitor/health", proc, server.log, timeout)
        yield server
