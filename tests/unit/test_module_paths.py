"""Every dotted path of the package named anywhere in the repository resolves (issue 17).

Modules move between stage folders; an import inside a function, a ``mock`` target, a Celery
setting, a compose command or a doc naming the old place is not caught by collecting the tests.
Each ``safety_hub.<...>`` / ``safety_hub_dev.<...>`` written in the code, the tests, the DAGs,
the plugins, the docs and the deployment files must name a module, or a module's attribute.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("include", "devtools", "dags", "plugins", "tests", "bench", "docs", ".ci")
TOP_FILES = ("README.md", "Makefile", "Dockerfile", "docker-compose.yml", "pyproject.toml")
SUFFIXES = {".py", ".md", ".yml", ".yaml", ".toml", ".cfg", ".sh", ".sql", ".html", ".txt", ""}
DOTTED = re.compile(r"\b(safety_hub(?:_dev)?(?:\.[A-Za-z_]\w*)+)")
# Dotted names that are not module paths: an entry-point group, the prefix of a load's advisory lock key.
NOT_PATHS = {"safety_hub.environment", "safety_hub.load"}


def _files():
    for top in TOP_FILES:
        yield ROOT / top
    for folder in SCANNED:
        for path in (ROOT / folder).rglob("*"):
            if path.is_file() and path.suffix in SUFFIXES and not any(p.endswith(".egg-info") or p == "__pycache__" for p in path.parts):
                yield path


def _resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        module = ".".join(parts[:i])
        try:
            if importlib.util.find_spec(module) is None:
                continue
        except ModuleNotFoundError:
            continue
        obj = importlib.import_module(module)
        for attr in parts[i:]:
            if not hasattr(obj, attr):
                return i == len(parts) - 1 and attr in ("py",)  # "safety_hub/x.py"-style text is a path, checked below
            obj = getattr(obj, attr)
        return True
    return False


def test_every_dotted_module_path_resolves():
    unresolved = {}
    for path in _files():
        text = path.read_text(encoding="utf-8", errors="replace")
        for dotted in set(DOTTED.findall(text)) - NOT_PATHS:
            if not _resolves(dotted):
                unresolved.setdefault(dotted, []).append(str(path.relative_to(ROOT)))
    assert not unresolved, "\n".join(f"{d}: {', '.join(sorted(f))}" for d, f in sorted(unresolved.items()))


PATH = re.compile(r"\b((?:include/safety_hub|devtools/safety_hub_dev)(?:/[\w.*-]+)*/?)")


def test_every_package_file_path_exists():
    missing = {}
    for path in _files():
        text = path.read_text(encoding="utf-8", errors="replace")
        for named in set(PATH.findall(text)):
            target = named.rstrip("/.")
            if "*" in target:
                ok = any(ROOT.glob(target))
            else:
                ok = (ROOT / target).exists()
            if not ok:
                missing.setdefault(named, []).append(str(path.relative_to(ROOT)))
    assert not missing, "\n".join(f"{d}: {', '.join(sorted(f))}" for d, f in sorted(missing.items()))


ZONE = re.compile(r"timezone\(\s*(?:dt\.|datetime\.)?timedelta\(\s*hours\s*=\s*8")


def test_beijing_time_is_defined_once():
    # It was defined a dozen times (DAG files, simulator, tests): config/settings.py is the one place.
    defined = [str(p.relative_to(ROOT)) for p in _files() if p.suffix == ".py" and ZONE.search(p.read_text(encoding="utf-8"))]
    assert defined == ["include/safety_hub/config/settings.py"], defined
