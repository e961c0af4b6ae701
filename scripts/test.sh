#!/usr/bin/env bash
# The project's test command: every package of the root module under the race
# detector; then, without it, the allocation tests, which skip or mean nothing
# under -race (sync.Pool drops items at random there, and the detector's own
# bookkeeping allocates); then the bench harness's own tests.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:${PATH}"
# netpoll first: its suite is the longest, and go test starts the packages
# in the order given, two at a time on two cores; listed in ./...'s order it
# started after the small ones, and the other slot, done with the rest,
# then sat idle for minutes.
go test -race -count=1 -timeout 20m ./netpoll ./...
go test -count=1 -timeout 5m -run 'Allocs|SteadyState' ./...
# The never-reading peers' RSS comparison, which -race leaves out (the
# detector's shadow memory swamps it): upoll's echo against Go's.
go test -count=1 -timeout 5m -run '^TestHostilePeers$' ./tests/reliability
# The same suites of netpoll, the net/http adapter and reliability on the portable
# backend (BackendStd); tests of the epoll backend's own machinery skip
# there, saying why. Here and in the io_uring pass the tests that name
# their backends themselves skip: netpoll's that run every backend by
# name (testBackends) or io_uring's own machinery (needUring), and the
# adapter's comparisons of each backend with Go's net (revStacks); UPOLL
# does not override a named backend, and the first pass ran them on each.
# Their Examples too (a few seconds): an example about
# the poller switches names its backend, so its output holds under any
# UPOLL backend. The fuzz targets' seeds ran in the first pass.
UPOLL=backend=std go test -race -count=1 -timeout 10m -run '^(Test|Example)' ./netpoll ./adapters/nethttp ./tests/reliability
# And on the io_uring backend, where the kernel and the sandbox allow io_uring
# (a container's default seccomp profile denies it): the test of
# internal/uring logs why not.
# (The output is kept first: with pipefail, grep -q leaving early would fail
# the pipe through go's SIGPIPE.)
probe=$(go test -count=1 -v -run '^TestAvailableNamesCause$' ./internal/uring 2>&1 || true)
if grep -q 'Available: <nil>' <<<"$probe"; then
  UPOLL=backend=uring go test -race -count=1 -timeout 10m -run '^(Test|Example)' ./netpoll ./adapters/nethttp ./tests/reliability
  UPOLL=backend=uring go test -count=1 -timeout 5m -run '^TestHostilePeers$' ./tests/reliability
else
  echo "io_uring unavailable here: the backend=uring pass is skipped" >&2
  grep 'Available:' <<<"$probe" >&2 || true
fi
if [ -f bench/go.mod ]; then
  go -C bench test -count=1 -timeout 10m ./...
fi
