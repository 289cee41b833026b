"""Real Airflow services for a test: the API server (``airflow api-server``), and with it the
scheduler and DAG processor when a test needs DAG runs as production runs them.

Each runs as a subprocess with the session's environment plus the test's overrides (the
SimpleAuthManager with a known user; a free port) and is stopped with SIGINT (its process group).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

USER, PASSWORD = "ops", "ops-password-not-a-secret"
AIRFLOW = str(Path(sys.executable).parent / "airflow")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


@contextmanager
def _process(args: list[str], env: dict[str, str], log: Path):
    with open(log, "wb") as out:
        proc = subprocess.Popen([AIRFLOW, *args], env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


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
    with _process(["api-server", "--port", str(port), "--host", "127.0.0.1"], full_env, server.log) as proc:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"airflow api-server exited with {proc.returncode}:\n{server.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{server.url}/api/v2/monitor/health", timeout=5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"airflow api-server not healthy after {timeout}s:\n{server.log.read_text()[-3000:]}") from None
                time.sleep(1)
        yield server


@contextmanager
def airflow_services(workdir: Path, env: dict[str, str], role: str = "admin"):
    """API server, scheduler and DAG processor on ``env``'s Airflow home (LocalExecutor)."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {**os.environ, **_auth_env(workdir, role), **env,
           "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
           # tasks reach the Task Execution API on this port; one JWT secret for every service
           "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
           "AIRFLOW__API_AUTH__JWT_SECRET": "test-jwt-secret-not-a-secret-0123456789"}
    with ExitStack() as stack:
        server = stack.enter_context(api_server(workdir, env, role=role, port=port))
        stack.enter_context(_process(["scheduler"], env, workdir / "scheduler.log"))
        stack.enter_context(_process(["dag-processor"], env, workdir / "dag-processor.log"))
        yield server


def api(server: ApiServer, token: str, method: str, path: str, body: dict | None = None) -> dict:
    """One call of Airflow's public REST API (``/api/v2``)."""
    request = urllib.request.Request(f"{server.url}/api/v2{path}", method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"{}")
