#!/bin/bash
# The loaded runs the closing notes quote: `make test` in a fresh clone of this checkout, beside
# `make demo` then `make bench` looped in a second fresh clone, until the test ends.
#   scripts/loaded_run.sh N [commit]      (logs in ${LOADED_LOGS:-/tmp/pcinsights-loaded}/)
# Start two or three at once for a machine at load 10-20. Per line: test N.log holds pytest's
# "passed in Ns" per line and "MAKE TEST rc=..."; N.load the load average every 30 s;
# N.summary each demo's and bench's exit code and seconds.
set -u
N=$1; C=${2:-HEAD}; REPO=$(git rev-parse --show-toplevel); L=${LOADED_LOGS:-/tmp/pcinsights-loaded}
mkdir -p "$L"; rm -f "$L/$N.done"
T=$(mktemp -d); B=$(mktemp -d)
git clone -q "$REPO" "$T/p" && git -C "$T/p" checkout -q "$C"
git clone -q "$REPO" "$B/p" && git -C "$B/p" checkout -q "$C"
echo "test=$T/p bench=$B/p commit=$(git -C "$T/p" rev-parse --short HEAD)" > "$L/$N.log"
(
  cd "$B/p" || exit 1
  i=0
  while [ ! -f "$L/$N.done" ]; do
    i=$((i + 1)); s=$(date +%s); make demo > "$L/$N-demo-$i.log" 2>&1
    echo "demo $i rc=$? $(($(date +%s) - s))s" >> "$L/$N.summary"
    [ -f "$L/$N.done" ] && break
    s=$(date +%s); make bench > "$L/$N-bench-$i.log" 2>&1
    echo "bench $i rc=$? $(($(date +%s) - s))s" >> "$L/$N.summary"
  done
) &
loop=$!
(
  while [ ! -f "$L/$N.done" ]; do echo "$(date +%T) $(cut -d' ' -f1-3 /proc/loadavg)" >> "$L/$N.load"; sleep 30; done
) &
cd "$T/p" || exit 1
s=$(date +%s); make test >> "$L/$N.log" 2>&1; rc=$?
echo "MAKE TEST rc=$rc $(($(date +%s) - s))s" >> "$L/$N.log"
touch "$L/$N.done"
wait "$loop"
exit $rc
