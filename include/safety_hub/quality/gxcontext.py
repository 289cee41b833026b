"""The one way to get a Great Expectations context: with our custom expectations registered.

GX registers an expectation class when its module is imported. A context that reads stored
suites or results (the Data Docs site under ``data/gx/``) in a process that has not imported
``safety_hub.quality.expectations`` fails on every custom expectation
(``ExpectationNotFoundError: expect_column_values_to_be_valid_uscc``) and drops them from what
it renders. Every path (the DAG tasks, the CLI's validate, replay and backfill, the docs build)
gets its context here, so the registration cannot be forgotten.
"""

from __future__ import annotations

from pathlib import Path


def register_expectations() -> None:
    """Register every custom expectation with GX (importing the module registers its classes)."""
    import safety_hub.quality.expectations  # noqa: F401


def get_context(project_root_dir: Path | None = None):
    """A GX context with our expectations registered and progress bars off.

    ``project_root_dir`` given: the file context there (``<dir>/gx/``, the Data Docs store);
    otherwise an ephemeral one (GX makes it its current project).
    """
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    register_expectations()
    if project_root_dir is None:
        ctx = gx.get_context(mode="ephemeral")
    else:
        ctx = gx.get_context(mode="file", project_root_dir=str(project_root_dir))
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    return ctx
