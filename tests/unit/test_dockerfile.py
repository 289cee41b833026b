"""The production image holds the production package and lock only (issue 17).

Docker does not run on the development machines, so the Dockerfile's install set is read
here: the ``production`` stage (every Airflow service) copies the package, the feed registry and
risk.yaml and installs requirements.txt; the dev package and the dev lock only enter the
``simulator`` stage. The production lock itself holds no test or dev dependency.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEV_ONLY = {"pytest", "pytest-xdist", "hypothesis", "playwright", "import-linter", "grimp"}


def _stages() -> dict[str, list[tuple[str, str]]]:
    """Stage name -> its instructions (keyword, arguments), continuation lines joined."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text(encoding="utf-8"))
    stages: dict[str, list[tuple[str, str]]] = {}
    current = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            m = re.fullmatch(r"(\S+)(?:\s+AS\s+(\S+))?", rest.strip(), re.IGNORECASE)
            current = m.group(2) or m.group(1)
            stages[current] = [("FROM", m.group(1))]
        else:
            stages[current].append((keyword, rest.strip()))
    return stages


def _copied(instructions) -> list[str]:
    sources = []
    for keyword, rest in instructions:
        if keyword in ("COPY", "ADD"):
            args = [a for a in shlex.split(rest) if not a.startswith("--")]
            sources += args[:-1]
    return sources


def _pinned(lock: str) -> set[str]:
    names = set()
    for line in (ROOT / lock).read_text(encoding="utf-8").splitlines():
        m = re.match(r"^([A-Za-z0-9_.\-\[\]]+)==", line)
        if m:
            names.add(re.sub(r"\[.*\]", "", m.group(1)).lower().replace("_", "-"))
    return names


def test_production_stage_installs_the_production_lock_and_package_only():
    stages = _stages()
    assert {"production", "simulator"} <= set(stages)
    production = stages["production"]
    assert production[0] == ("FROM", "apache/airflow:3.3.2-python3.11")
    copied = _copied(production)
    assert "requirements.txt" in copied
    assert {"include/safety_hub/", "include/feeds/", "include/risk.yaml"} <= set(copied)
    assert not [c for c in copied if "devtools" in c or "requirements-dev" in c or c.rstrip("/") in ("include", ".", "tests")], copied
    installs = [rest for keyword, rest in production if keyword == "RUN" and "pip install" in rest]
    assert installs and all("-r /requirements.txt" in i and "requirements-dev" not in i and "devtools" not in i for i in installs)


def test_production_lock_holds_no_dev_dependency():
    production = _pinned("requirements.txt")
    assert "apache-airflow" in production and "great-expectations" in production
    assert not production & DEV_ONLY, sorted(production & DEV_ONLY)
    dev = _pinned("requirements-dev.txt")
    assert {"pytest", "hypothesis", "playwright", "import-linter"} <= dev
    # One resolution: what both locks pin, they pin alike (the dev lock is constrained by the production one).
    versions = {}
    for lock in ("requirements.txt", "requirements-dev.txt"):
        for line in (ROOT / lock).read_text(encoding="utf-8").splitlines():
            m = re.match(r"^([A-Za-z0-9_.\-]+)==(\S+)", line)
            if m:
                assert versions.setdefault(m.group(1).lower(), m.group(2)) == m.group(2), f"{m.group(1)} pinned differently in {lock}"


def test_simulator_stage_adds_the_dev_package_on_the_production_image():
    simulator = _stages()["simulator"]
    assert simulator[0] == ("FROM", "production")
    assert "devtools/" in _copied(simulator)
    assert any("pip install" in rest and "/opt/airflow/devtools" in rest for keyword, rest in simulator if keyword == "RUN")


def test_production_package_holds_no_dev_tooling():
    package = ROOT / "include" / "safety_hub"
    for name in ("simulator", "demo.py", "stack.py", "localairflow.py"):
        assert not (package / name).exists(), f"{name} belongs in devtools/safety_hub_dev"
    offenders = [str(p.relative_to(ROOT)) for p in package.rglob("*.py")
                 if re.search(r"^\s*(from|import)\s+safety_hub_dev\b", p.read_text(encoding="utf-8"), re.MULTILINE)]
    assert not offenders, f"the production package imports the dev package: {offenders}"
