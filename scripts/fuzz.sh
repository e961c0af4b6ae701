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
for pkg in $(go list ./...); do
  for f in $(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
    echo "fuzz $pkg $f ($t)"
    go test -run '^$' -fuzz "^${f}\$" -fuzztime "$t" -fuzzminimizetime "$m" "$pkg"
  done
done
