"""Every name outside GX's public API the project relies on (``engine.PRIVATE_GX_NAMES``) is still there,
with the parameters we call it with: an upgrade of Great Expectations that moves, renames or
changes one fails here, naming it (and where it is used)."""

from __future__ import annotations

import importlib
import inspect

import pytest

from safety_hub.quality.engine import PRIVATE_GX_NAMES


def _resolve(module: str, path: str):
    obj = importlib.import_module(module)
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


@pytest.mark.parametrize("module, path, params, used", PRIVATE_GX_NAMES, ids=[f"{m}.{p}" for m, p, _, _ in PRIVATE_GX_NAMES])
def test_private_gx_name_is_still_there(module, path, params, used):
    name = f"{module}.{path}"
    try:
        obj = _resolve(module, path)
    except (ImportError, AttributeError) as exc:
        pytest.fail(f"GX private name {name} is gone ({exc}); used by {used}")
    if params:
        try:
            have = set(inspect.signature(obj).parameters)
        except (TypeError, ValueError) as exc:
            pytest.fail(f"GX private name {name}: no signature ({exc}); used by {used}")
        missing = [p for p in params if p not in have]
        assert not missing, f"GX private name {name} lost parameter(s) {missing}; used by {used}"


def test_the_list_names_every_private_gx_import_of_the_package():
    """A ``great_expectations`` name the package imports from outside GX's public namespaces is either
    marked public API by GX (``@public_api``) or listed."""
    import ast
    from pathlib import Path

    from great_expectations._docs_decorators import WHITELISTED_TAG

    import safety_hub

    public_modules = {"great_expectations", "great_expectations.expectations", "great_expectations.core", "great_expectations.exceptions"}
    listed = {(m, p.split(".")[0]) for m, p, _, _ in PRIVATE_GX_NAMES}
    unlisted = []
    for path in sorted(Path(safety_hub.__file__).parent.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("great_expectations") and node.module not in public_modules:
                unlisted += [f"{path.name}: {node.module}.{a.name}" for a in node.names if (node.module, a.name) not in listed
                             and WHITELISTED_TAG not in (getattr(_resolve(node.module, a.name), "__doc__", None) or "")]
    assert not unlisted, f"private GX names imported but not in engine.PRIVATE_GX_NAMES: {unlisted}"
