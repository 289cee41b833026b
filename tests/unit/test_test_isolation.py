"""The suite's own isolation (tests/conftest.py): a test or fixture that leaves a project variable
changed fails, monkeypatch-made changes pass, the session's Airflow settings are in place while
tests run, and the tests of the session runs carry the markers ``make test`` splits on."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"


@pytest.fixture
def suite(pytester):
    """A scratch test directory with this suite's conftest."""
    pytester.makeconftest(CONFTEST.read_text(encoding="utf-8"))
    return pytester


def test_a_test_that_sets_a_project_variable_and_leaves_it_fails(suite):
    suite.makepyfile(test_leak="""
        import os

        def test_leaks():
            os.environ["SAFETY_HUB_LEAKED_BY_A_TEST"] = "1"
        """)
    result = suite.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)  # the last test's teardown: its own check, then the session's
    result.stdout.fnmatch_lines(["*test_leak.py::test_leaks left the environment changed: "
                                 "SAFETY_HUB_LEAKED_BY_A_TEST: None -> '1'*"])
    result.stdout.fnmatch_lines(["*a fixture left the environment changed: SAFETY_HUB_LEAKED_BY_A_TEST: None -> '1'*"])


def test_a_module_fixture_that_does_not_restore_fails_the_session(suite):
    suite.makepyfile(test_leak="""
        import os
        import pytest

        @pytest.fixture(scope="module")
        def leaky():
            os.environ["AIRFLOW__CORE__LEAKED_BY_A_FIXTURE"] = "x"
            yield

        def test_uses_it(leaky):
            pass
        """)
    result = suite.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*a fixture left the environment changed: AIRFLOW__CORE__LEAKED_BY_A_FIXTURE: None -> 'x'*"])


def test_changes_through_monkeypatch_pass_and_the_session_airflow_is_set(suite):
    suite.makepyfile(test_clean="""
        import os
        import pytest

        @pytest.fixture(scope="module")
        def module_home(tmp_path_factory):
            with pytest.MonkeyPatch.context() as mp:
                mp.setenv("SAFETY_HUB_HOME", str(tmp_path_factory.mktemp("home")))
                yield os.environ["SAFETY_HUB_HOME"]

        def test_monkeypatch(monkeypatch, module_home):
            monkeypatch.setenv("SAFETY_HUB_WAREHOUSE_URL", "duckdb:///x.duckdb")
            monkeypatch.delenv("SAFETY_HUB_HOME")

        def test_session_airflow(module_home):
            assert os.environ["SAFETY_HUB_HOME"] == module_home
            assert os.environ["AIRFLOW_HOME"].endswith("/airflow") and "safety-hub-tests-" in os.environ["AIRFLOW_HOME"]
            assert os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("sqlite:///")
            assert "SAFETY_HUB_WAREHOUSE_URL" not in os.environ
        """)
    result = suite.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_the_session_run_tests_are_marked_for_the_split(suite):
    suite.makepyfile(test_marks="""
        import pytest

        def test_pg(postgres_run): pass
        def test_both(duckdb_run, postgres_run): pass
        def test_duck(duckdb_run): pass
        def test_run(run): pass
        def test_plain(): pass
        """)
    ids = {}
    for mark in ("postgres", "duckdb_run"):
        result = suite.runpytest_subprocess("-p", "no:cacheprovider", "--collect-only", "-q", "-m", mark)
        ids[mark] = sorted(line for line in result.outlines if "::" in line)
    assert ids == {
        "postgres": ["test_marks.py::test_both", "test_marks.py::test_pg", "test_marks.py::test_run[postgres]"],
        "duckdb_run": ["test_marks.py::test_duck", "test_marks.py::test_run[duckdb]"],
    }
