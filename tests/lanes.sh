#!/usr/bin/env bash
# `make test`'s pytest part: the suite as two plain pytest invocations side by side (README, "The two commands").
#
#   runs  the tests that read a session pipeline run, marked `postgres` or `duckdb_run` by
#         tests/conftest.py: one process, which builds the DuckDB run and (with
#         SAFETY_HUB_TEST_POSTGRES_URL) the PostgreSQL run once each. The PostgreSQL run is one
#         database, so one process must build and read it; pytest-xdist 3.8 cannot keep tests
#         together on one worker under pytest 9.2 without private pytest API.
#   rest  every other test, on PYTEST_WORKERS xdist processes, a whole file per worker at a time
#         (a module's fixtures are built once).
#
# The rest lane prints as it goes (and to TEST_LOGS/rest.log); the runs lane writes
# TEST_LOGS/runs.log, whose closing lines (its failures and errors, when it has any) are printed
# once the rest lane ends. Exits non-zero when either lane failed.
set -uo pipefail

PY=${PY:-.venv/bin/python}
WORKERS=${PYTEST_WORKERS:-2}
LOGS=${TEST_LOGS:-.test-logs}
RUNS_MARK="postgres or duckdb_run"
mkdir -p "$LOGS"

# Its own cache dir: two pytest processes writing one lastfailed file would drop each other's entries.
"$PY" -m pytest -m "$RUNS_MARK" -o cache_dir=.pytest_cache/runs-lane >"$LOGS/runs.log" 2>&1 &
runs_pid=$!
trap 'kill "$runs_pid" 2>/dev/null; exit 130' INT TERM
echo "lane runs (-m \"$RUNS_MARK\", one process) started: $LOGS/runs.log"

"$PY" -m pytest -m "not ($RUNS_MARK)" -n "$WORKERS" --dist loadfile 2>&1 | tee "$LOGS/rest.log"
rest=${PIPESTATUS[0]}

echo "waiting for lane runs ($LOGS/runs.log) ..."
wait "$runs_pid"
runs=$?
trap - INT TERM

echo
echo "=== lane rest (-m \"not ($RUNS_MARK)\", -n $WORKERS): exit $rest, log $LOGS/rest.log"
echo "=== lane runs (-m \"$RUNS_MARK\"): exit $runs, log $LOGS/runs.log"
if [ "$runs" -ne 0 ]; then
  # From pytest's first failure or error section on; the last lines when it has none (a crash).
  if grep -qE '^=+ (FAILURES|ERRORS) =+$' "$LOGS/runs.log"; then
    sed -nE '/^=+ (FAILURES|ERRORS) =+$/,$p' "$LOGS/runs.log"
  else
    tail -n 60 "$LOGS/runs.log"
  fi
else
  tail -n 1 "$LOGS/runs.log"  # pytest's closing line
fi
[ "$rest" -eq 0 ] && [ "$runs" -eq 0 ]
