"""The README is executable: every shell and SQL example in README.md runs against a demo-built home.

The home is the session's DuckDB run (tests/conftest.py: the demo's days, ``demo.DEMO_DAYS``,
through every DAG), copied into a folder laid out like a clone after ``make demo``: ``data/``
(warehouse, raw zone, drop folder, lineage events), ``reports/``, ``.airflow/`` (the metadata DB
with the runs), and links to the project's ``.venv``, ``Makefile``, ``tests``, ``include``. Each
command of a ```bash block runs there verbatim with ``bash``, in the README's order, with no
Airflow configuration in its environment (as a new user's shell after ``make demo``), except that
``/tmp/<name>`` paths are moved into this test's own temporary folder (parallel runs on one
machine would share them). A command fails the test on a non-zero exit, a traceback, an empty
output, or an output without what the README promises (``PROMISES``). Every ```sql block runs on
the home's warehouse and must return rows.

Commands that cannot run here are in ``NOT_RUN`` with the reason; a command of the README that is
neither run nor listed there cannot exist (every unlisted one is run), and a listed one that left
the README fails the test, so the list stays true.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import DAYS, DROPZONE, SESSION_DIR

pytestmark = pytest.mark.e2e

README = Path(__file__).resolve().parents[2] / "README.md"
PROJECT = README.parent

# Commands of the README that this test does not run, by the start of the command, with the reason.
NOT_RUN = {
    "make demo": "builds the home the other commands run on; the test builds the same one through "
                 "tests/conftest.py (demo.DEMO_DAYS through every DAG with localairflow.run_days), as make demo does",
    "make test": "the whole suite, this test included",
    ".venv/bin/python -m pytest": "runs tests of this suite (make test runs them; running pytest inside pytest would run them twice)",
    "docker compose": "Docker does not run on the development and CI machines; make stack-test runs the same topology natively",
    "cp .env.example .env": "step of the docker compose deployment (see docker compose)",
    "nice -n 10 .venv/bin/python -m safety_hub simulate --profile city": "a whole city's quarter (about a CPU minute and "
        "240 MB of files, as the README says): too heavy for every test run; tests/unit/test_simulator_city.py holds the "
        "profile's calendar, volumes and figures",
}

# What a command's output must hold, by a pattern on the command (first match wins). Every run
# command must also exit 0, print something, and print no traceback.
PROMISES = [
    (r"safety_hub feeds$", r"emb_hazard"),
    (r"safety_hub simulate ", r"wrote "),
    (r"safety_hub validate ", r"rows \d+\s+valid \d+\s+quarantined \d+"),
    (r"safety_hub quarantine ", r"隔离行数 [1-9]"),  # not "nothing in quarantine": the date is in the demo's window
    (r"safety_hub replay ", r"emb_hazard\s+\d{4}-\d{2}-\d{2}\s+rows \d+\s+loaded [1-9]"),
    (r"safety_hub backfill ", r"tc_rail_hazard\s+\d{4}-\d{2}-\d{2}\s+rows \d+\s+loaded [1-9]"),
    (r"safety_hub health", r"^emb_hazard\s.*\b2026-11-0[2-4]\b"),  # its data date, from the demo's window
    (r"safety_hub report --week", r"workbook: .*\.xlsx"),
    (r"dags test report_weekly", r"state=success"),
    (r"generate\.py --out", r"."),
    (r"^jq ", r"ingest_emb_hazard\.extract: http://127\.0\.0\.1:\d+ api/v1/hazards -> "),
]

TIMEOUT = 900


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """(language, body) of every fenced block, in order."""
    return [(m.group(1), m.group(2)) for m in re.finditer(r"^```(\w*)\n(.*?)^```", text, re.M | re.S)]


def shell_commands(body: str) -> list[str]:
    """The commands of a shell block: continuation lines joined, comment lines (expected output) dropped."""
    commands, current = [], ""
    for line in body.splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        current += line
        if line.endswith("\\"):  # continued: bash reads the backslash-newline as it is
            current += "\n"
            continue
        commands.append(current.strip())
        current = ""
    return commands


def readme_examples() -> tuple[list[str], list[str]]:
    blocks = fenced_blocks(README.read_text(encoding="utf-8"))
    shell = [c for lang, body in blocks if lang in ("bash", "sh", "shell", "console") for c in shell_commands(body)]
    sql = [body for lang, body in blocks if lang == "sql"]
    return shell, sql


def not_run_reason(command: str) -> str | None:
    return next((why for start, why in NOT_RUN.items() if command.startswith(start)), None)


def promise(command: str) -> str | None:
    first = command.splitlines()[0]
    return next((pattern for where, pattern in PROMISES if re.search(where, first)), None)


@pytest.fixture(scope="module")
def demo_home(duckdb_run, tmp_path_factory) -> Path:
    """A copy of the session's demo-built home, laid out like a clone after ``make demo``."""
    home = tmp_path_factory.mktemp("readme") / "clone"
    shutil.copytree(duckdb_run.hub_home, home, symlinks=True)
    shutil.copytree(SESSION_DIR / "airflow", home / ".airflow", symlinks=True, ignore=shutil.ignore_patterns("logs"))
    shutil.copytree(DROPZONE, home / "data" / "dropzone", symlinks=True)
    (home / ".venv").symlink_to(Path(sys.prefix))
    for name in ("Makefile", "requirements.txt", "requirements-dev.txt", "pyproject.toml", "devtools", "tests", "include", "dags",
                 "plugins", "docs"):
        (home / name).symlink_to(PROJECT / name)
    return home


def clean_env(home: Path) -> dict[str, str]:
    """A new user's shell: no Airflow configuration, no warehouse URL; the demo home is ``home``."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AIRFLOW_", "AIRFLOW__", "SAFETY_HUB_", "OPENLINEAGE"))}
    env["SAFETY_HUB_HOME"] = str(home)  # the clone's home: the project dir there is this checkout
    return env


def test_readme_lists_what_it_does_not_run():
    shell, sql = readme_examples()
    assert len(shell) >= 15 and len(sql) >= 4, (len(shell), len(sql))
    for start in NOT_RUN:
        assert any(c.startswith(start) for c in shell), f"NOT_RUN lists {start!r}, which the README no longer shows"


def test_readme_dates_are_in_the_demo_window():
    """Every date in a command is a demo day (or the corpus' own day, the day after the simulated week),
    and every ISO week is the demo's."""
    from safety_hub.reporting.archive import ReportWeek

    shell, _ = readme_examples()
    demo = {d.isoformat() for d in DAYS} | {d.strftime("%Y%m%d") for d in DAYS}
    weeks = {ReportWeek.containing(d).label for d in DAYS}
    for command in shell:
        if not_run_reason(command):
            continue
        if "/tmp/corpus" in command:
            continue  # the adversarial corpus is one simulated day of its own (tests/adversarial/generate.py)
        for date in re.findall(r"\b20\d\d-\d\d-\d\d\b|(?<=_)20\d{6}\b", command):
            assert date in demo, f"{command!r}: {date} is outside the demo's days {sorted(demo)}"
        for week in re.findall(r"\b20\d\d-W\d\d\b", command):
            assert week in weeks, f"{command!r}: {week} is not the demo's week {sorted(weeks)}"


def test_readme_sql_examples_return_rows(demo_home):
    import sqlalchemy as sa

    _, sql = readme_examples()
    engine = sa.create_engine(f"duckdb:///{demo_home / 'data' / 'warehouse.duckdb'}")
    try:
        with engine.connect() as conn:
            for query in sql:
                rows = conn.execute(sa.text(query)).all()
                assert rows, f"no rows from the README's query:\n{query}"
    finally:
        engine.dispose()


def test_readme_shell_examples_run(demo_home, tmp_path):
    shell, _ = readme_examples()
    failures, ran = [], []
    for command in shell:
        if not_run_reason(command):
            continue
        if command.startswith("AIRFLOW_CONN_"):  # an example connection: what Airflow reads from that variable
            from airflow.models.connection import Connection

            (assignment,) = shlex.split(command, comments=True)
            name, _, value = assignment.partition("=")
            conn = Connection.from_json(value, conn_id=name.removeprefix("AIRFLOW_CONN_").lower())
            assert conn.conn_type in ("http", "smtp") and conn.host, command
            assert json.loads(value)["conn_type"] == conn.conn_type
            continue
        expected = promise(command)
        run = re.sub(r"(?<![\w.])/tmp/(?=\w)", f"{tmp_path}/", command)
        done = subprocess.run(["bash", "-c", run], cwd=demo_home, env=clean_env(demo_home),
                              capture_output=True, text=True, timeout=TIMEOUT)
        ran.append(command)
        out = done.stdout + done.stderr
        problem = None
        if done.returncode != 0:
            problem = f"exit {done.returncode}"
        elif "Traceback (most recent call last)" in out:
            problem = "a traceback"
        elif expected is None and not done.stdout.strip():
            problem = "no output"
        elif expected and not re.search(expected, done.stdout + done.stderr, re.M):
            problem = f"no line matching {expected!r}"
        if problem:
            failures.append(f"$ {command}\n  -> {problem}\n{out[-3000:]}")
    assert len(ran) >= 10, ran
    assert not failures, "README commands that fail on the demo:\n\n" + "\n\n".join(failures)
