#!/usr/bin/env bash
# Crash runs: the real `tributary` binary killed with SIGKILL at random
# moments of a sync (over a `tributary` connection from a source server) and
# of a replan, CRASH_RUNS times each (default 20), on SQLite and then on
# PostgreSQL; after every restart the sync must end with every table's
# content equal to a run never killed, and the plans fresh and equal too.
# Prints one line per kill and a summary per database (tests/it/crash.rs).
#
#   bash scripts/crash_runs.sh                 # both databases
#   CRASH_DATABASES=sqlite bash scripts/crash_runs.sh
#
# Environment: CRASH_RUNS, CRASH_VARIANTS (source size, default 3000),
# TEST_POSTGRES_URL (default the local socket's tributary_test database).
# Takes a few minutes per database; not part of CI.
set -euo pipefail
cd "$(dirname "$0")/.."

PGHOST_DIR=${PGHOST_DIR:-/var/run/postgresql}
export TEST_POSTGRES_URL=${TEST_POSTGRES_URL:-postgres:///tributary_test?host=$PGHOST_DIR}
export CRASH_RUNS=${CRASH_RUNS:-20}

cargo test --all-features --test it --no-run -q
for db in ${CRASH_DATABASES:-sqlite postgres}; do
    echo "== crash runs on $db ($CRASH_RUNS kills of each kind)"
    TEST_DATABASE=$db cargo test -q --all-features --test it crash::kill_nine_during_sync_and_replan \
        -- --ignored --nocapture --test-threads 1
done
