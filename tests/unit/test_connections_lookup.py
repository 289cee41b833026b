"""``config.connections.get_connection``: a process that has not imported Airflow reads a JSON
``AIRFLOW_CONN_<ID>`` itself, without paying Airflow's import, and gets what Airflow's lookup gives."""

from __future__ import annotations

import json
import subprocess
import sys

CONN = {"conn_type": "http", "host": "https://api.example.cn", "login": "u", "password": "tok:en/=", "port": 8443,
        "schema": "v1", "extra": {"format": "wecom", "path": "/data/drop"}}
PROBE = ("import json, sys; from safety_hub.config.connections import get_connection; c = get_connection('probe_conn'); "
         "print(json.dumps([c.conn_type, c.host, c.login, c.password, c.port, c.schema, c.extra, 'airflow' in sys.modules]))")


def test_a_fresh_process_reads_the_json_variable_without_importing_airflow(monkeypatch):
    from safety_hub.config.connections import get_connection

    monkeypatch.setenv("AIRFLOW_CONN_PROBE_CONN", json.dumps(CONN))
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    *fields, airflow_imported = json.loads(out.stdout.strip().splitlines()[-1])
    assert not airflow_imported, "reading an environment variable imported Airflow"
    import airflow  # noqa: F401  (this process: Airflow's own lookup of the same variable)

    c = get_connection("probe_conn")
    assert fields == [c.conn_type, c.host, c.login, c.password, c.port, c.schema, c.extra]
    assert fields[3] == "tok:en/=" and fields[6] == CONN["extra"]


def test_a_uri_variable_is_left_to_airflow(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_PROBE_CONN", "http://u:pw@api.example.cn:8443/v1")
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    conn_type, host, login, password, port, schema, extra, airflow_imported = json.loads(out.stdout.strip().splitlines()[-1])
    assert airflow_imported and (host, login, password, port) == ("api.example.cn", "u", "pw", 8443)
