#!/usr/bin/env bash
# `make test`'s pytest part: the suite as three plain pytest invocations side by side, split by
# the markers tests/conftest.py gives (README, "The two commands"):
#
#   postgres  -m postgres: the tests that read the session's PostgreSQL pipeline run (and the few
#             that need PostgreSQL otherwise), in one process. The run is one database
#             (SAFETY_HUB_TEST_POSTGRES_URL): one process must build it and run every test that
#             reads it. The parity test reads the DuckDB run too: the copy of its warehouse the
#             duckdb lane leaves in $LOGS/shared-runs once built (the run is built once for both).
#   duckdb    -m duckdb_run: the tests that read only the DuckDB run, in one process (built once).
#   rest      every other test, on PYTEST_WORKERS xdist processes, a whole file per worker at a
#             time (a module's fixtures are built once).
#
# pytest-xdist's --dist loadgroup would keep each run's tests on one worker of one invocation,
# but with pytest 9.2 and xdist 3.8 it does not without pytest's private API.
#
# The rest lane prints as it goes (and to TEST_LOGS/rest.log); the other two write
# TEST_LOGS/<lane>.log, whose closing line (or, when the lane failed, its failures and errors)
# is printed once the rest lane ends. Exits non-zero when any lane failed.
set -uo pipefail

PY=${PY:-.venv/bin/python}
WORKERS=${PYTEST_WORKERS:-2}
LOGS=${TEST_LOGS:-.test-logs}
mkdir -p "$LOGS"

# The DuckDB lane copies its run's warehouse here once built; the PostgreSQL lane's parity test reads
# that copy rather than building the same run again (tests/conftest.py, duckdb_warehouse).
export SAFETY_HUB_TEST_SHARED_RUNS="$LOGS/shared-runs"
rm -rf "$SAFETY_HUB_TEST_SHARED_RUNS" && mkdir -p "$SAFETY_HUB_TEST_SHARED_RUNS"

declare -A mark=([postgres]="postgres" [duckdb]="duckdb_run") pid=() rc=()
for lane in duckdb postgres; do
  # Each lane its own cache dir: pytest processes writing one lastfailed file drop each other's entries.
  SAFETY_HUB_TEST_DUCKDB_LANE_PID=${pid[duckdb]:-} \
    "$PY" -m pytest -m "${mark[$lane]}" -o cache_dir=".pytest_cache/lane-$lane" >"$LOGS/$lane.log" 2>&1 &
  pid[$lane]=$!
  echo "lane $lane (-m ${mark[$lane]}, one process) started: $LOGS/$lane.log"
done
trap 'kill "${pid[@]}" 2>/dev/null; exit 130' INT TERM

"$PY" -m pytest -m "not postgres and not duckdb_run" -n "$WORKERS" --dist loadfile 2>&1 | tee "$LOGS/rest.log"
rest=${PIPESTATUS[0]}

for lane in postgres duckdb; do
  echo "waiting for lane $lane ($LOGS/$lane.log) ..."
  wait "${pid[$lane]}"
  rc[$lane]=$?
done
trap - INT TERM

echo
echo "=== lane rest (-m \"not postgres and not duckdb_run\", -n $WORKERS): exit $rest, log $LOGS/rest.log"
status=$rest
for lane in postgres duckdb; do
  log="$LOGS/$lane.log"
  echo "=== lane $lane (-m ${mark[$lane]}): exit ${rc[$lane]}, log $log"
  if [ "${rc[$lane]}" -ne 0 ]; then
    status=1
    # From pytest's first failure or error section on; the last lines when it has none (a crash).
    if grep -qE '^=+ (FAILURES|ERRORS) =+$' "$log"; then
      sed -nE '/^=+ (FAILURES|ERRORS) =+$/,$p' "$log"
    else
      tail -n 60 "$log"
    fi
  else
    tail -n 1 "$log"  # pytest's closing line
  fi
done
exit "$status"
