#!/usr/bin/env bash
# Runs every fuzz target of the root module for a short time each
# (default 15s; pass a duration such as 5m for a longer hunt).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:${PATH}"
t="${1:-15s}"
# Go minimizes every new coverage-increasing input for up to 60s by
# default, and the op-sequence fuzzers' long inputs use most of it: in a
# 15s run FuzzLinkBuffer spent 12s minimizing one input. A short bound
# keeps short runs fuzzing; crashers are still minimized.
m="${FUZZ_MINIMIZE:-3s}"

# fuzz_one runs one target. Go 1.26's fuzzing coordinator can fail a
# target at the end of -fuzztime with a bare "context deadline exceeded"
# and no failing input written (go.dev/issue/75804, fixed in Go 1.27;
# seen here in CI on examples/rpc FuzzReadFrame, 2026-11-23). That
# signature, and only that one, is retried once; a failure that writes
# an input under testdata/fuzz/<target> always fails the run.
fuzz_one() {
  local pkg=$1 f=$2 dir out rc
  dir="$(go list -f '{{.Dir}}' "$pkg")/testdata/fuzz/$f"
  for attempt in 1 2; do
    local before
    before=$(ls "$dir" 2>/dev/null | wc -l)
    out=$(mktemp)
    rc=0
    go test -run '^$' -fuzz "^${f}\$" -fuzztime "$t" -fuzzminimizetime "$m" "$pkg" 2>&1 | tee "$out" || rc=$?
    if [ "$rc" -eq 0 ]; then
      rm -f "$out"
      return 0
    fi
    if [ "$(ls "$dir" 2>/dev/null | wc -l)" -eq "$before" ] &&
      grep -q '^    context deadline exceeded$' "$out" &&
      ! grep -q -e 'Failing input written' -e '^panic' "$out"; then
      rm -f "$out"
      echo "fuzz $pkg $f: fuzzing coordinator deadline race (go.dev/issue/75804), no input written; attempt $attempt"
      continue
    fi
    rm -f "$out"
    return "$rc"
  done
  echo "fuzz $pkg $f: the deadline race twice in a row, no input written: not a finding"
}

for pkg in $(go list ./...); do
  for f in $(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
    echo "fuzz $pkg $f ($t)"
    fuzz_one "$pkg" "$f"
  done
done
