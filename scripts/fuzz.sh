#!/usr/bin/env bash
# fuzz.sh — run every fuzz target (any `func FuzzX` in a _test.go file of the root module and of the nested modules
# given as arguments) for FUZZTIME each. FUZZJOBS targets run at once, each with one fuzzing worker, so a 2-core
# machine can run them side by side; a log per target goes to FUZZLOGS; FUZZTARGETS (an extended regexp over the
# target names, default all) picks some. Exits non-zero when any target fails.
set -euo pipefail
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-10m}
FUZZMINIMIZE=${FUZZMINIMIZE:-5s}
FUZZJOBS=${FUZZJOBS:-1}
FUZZLOGS=${FUZZLOGS:-${TMPDIR:-/tmp}/appcred-fuzz}
FUZZTARGETS=${FUZZTARGETS:-.}
mkdir -p "$FUZZLOGS"

targets=$(for m in . "$@"; do
  (cd "$m" && for d in $($GO list -f '{{.Dir}}' ./...); do
    for t in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$d"/*_test.go 2>/dev/null | cut -c6- | grep -E "$FUZZTARGETS"); do
      echo "$d $t"
    done
  done)
done)
echo "fuzz: $(echo "$targets" | wc -l) targets, $FUZZTIME each, $FUZZJOBS at a time, logs in $FUZZLOGS"

run_one() {
  local d=$1 t=$2 parallel=()
  local log="$FUZZLOGS/$(basename "$d")-$t.log" # two packages may both have a FuzzDecode
  [ "$FUZZJOBS" -gt 1 ] && parallel=(-parallel 1)
  if (cd "$d" && $GO test -run '^$' -fuzz "^$t\$" -fuzztime "$FUZZTIME" -fuzzminimizetime "$FUZZMINIMIZE" \
      "${parallel[@]}" .) >"$log" 2>&1; then
    echo "ok   $t ($d): $(grep -o 'elapsed: [^,]*, execs: [0-9]*' "$log" | tail -1)"
  else
    echo "FAIL $t ($d): see $log"; return 1
  fi
}
export -f run_one
export GO FUZZTIME FUZZMINIMIZE FUZZJOBS FUZZLOGS
echo "$targets" | xargs -P "$FUZZJOBS" -L 1 bash -c 'run_one "$0" "$1"'
