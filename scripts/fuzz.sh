#!/usr/bin/env bash
# Fuzzing for a fixed time on stable Rust (proptest; tests/it/fuzz.rs): the
# CSV importer of every entity on generated hostile files, and the
# StockTrim-compatible API over HTTP on generated JSON bodies. Fails on a
# panic, a server error, a refusal that does not name its row and field, or
# a refused body that wrote anything. Not part of CI.
#
#   FUZZ_SECONDS=300 bash scripts/fuzz.sh      # each target (default 60)
set -euo pipefail
cd "$(dirname "$0")/.."
export FUZZ_SECONDS=${FUZZ_SECONDS:-60}
cargo test -q --all-features --test it fuzz:: -- --ignored --nocapture --test-threads 1
