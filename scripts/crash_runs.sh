#!/usr/bin/env bash
# Crash runs: the real `tributary` binary killed with SIGKILL at random
# moments of a sync and restarted, CRASH_RUNS times (default 20) per
# connector, on SQLite and then on PostgreSQL: over a `tributary` connection
# from a source server (and as many kills during a replan), over a
# `shopify` connection to the Shopify fake and over a `woocommerce`
# connection to the WooCommerce fake. After every restart the sync must end
# with every table's content equal to a run never killed, and the plans
# fresh and equal too. Prints one line per kill and a summary per connector
# and database (tests/it/crash.rs).
#
#   bash scripts/crash_runs.sh                 # both databases, every connector
#   CRASH_DATABASES=sqlite CRASH_CONNECTORS=shopify bash scripts/crash_runs.sh
#   TRIBUTARY_SHOPIFY_BULK_ORDERS=1 CRASH_CONNECTORS=shopify bash scripts/crash_runs.sh
#                                              # Shopify orders by bulk operation
#
# Environment: CRASH_RUNS, CRASH_VARIANTS (source size: variants and orders;
# default 3000 for `tributary`, CRASH_SHOP_VARIANTS default 600 for the
# fakes), TEST_POSTGRES_URL (default the local socket's tributary_test
# database). Takes minutes per connector and database; not part of CI.
set -euo pipefail
cd "$(dirname "$0")/.."

PGHOST_DIR=${PGHOST_DIR:-/var/run/postgresql}
export TEST_POSTGRES_URL=${TEST_POSTGRES_URL:-postgres:///tributary_test?host=$PGHOST_DIR}
export CRASH_RUNS=${CRASH_RUNS:-20}
export CRASH_VARIANTS=${CRASH_VARIANTS:-3000}

SHOP_VARIANTS=${CRASH_SHOP_VARIANTS:-600}

cargo test --all-features --test it --no-run -q
for db in ${CRASH_DATABASES:-sqlite postgres}; do
    for connector in ${CRASH_CONNECTORS:-tributary shopify woocommerce}; do
        case $connector in
            tributary) test=crash::kill_nine_during_sync_and_replan; n=$CRASH_VARIANTS ;;
            *) test=crash::kill_nine_during_${connector}_sync; n=$SHOP_VARIANTS ;;
        esac
        echo "== crash runs on $db over $connector ($CRASH_RUNS kills of each kind)"
        CRASH_VARIANTS=$n TEST_DATABASE=$db cargo test -q --all-features --test it "$test" \
            -- --ignored --nocapture --test-threads 1
    done
done
