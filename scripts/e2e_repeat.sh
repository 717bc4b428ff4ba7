#!/usr/bin/env bash
# Run `make e2e` N times in a row (default 20) against one deployed sandbox, stop at the first
# failure, print each run's wall time. Bounded: each run is killed after E2E_RUN_TIMEOUT seconds
# (default 900). Logs: build/e2e-repeat/run-<n>.log. Exit status 0 only if every run passed.
#
#   scripts/e2e_repeat.sh [N]          (make e2e-repeat N=20; SANDBOX_PORT picks the sandbox)
#
# The sandbox is brought up and the stack deployed once before the first run (so each run is
# the suites alone, as `make e2e` on a developer's running sandbox); if this script started the
# sandbox, it stops it at the end.
set -uo pipefail

runs=${1:-20}
limit=${E2E_RUN_TIMEOUT:-900}
cd "$(dirname "$0")/.."
py=.venv/bin/python
logs=build/e2e-repeat
mkdir -p "$logs"

if ! [[ $runs =~ ^[1-9][0-9]*$ ]]; then
  echo "e2e-repeat: N must be a positive integer, not '$runs'" >&2
  exit 2
fi
if ! $py -m sandbox status >/dev/null 2>&1; then
  $py -m sandbox up || exit 1
  trap '$py -m sandbox down' EXIT
fi
$py -m harness.deploy apply >"$logs/deploy.log" 2>&1 || { tail -20 "$logs/deploy.log"; exit 1; }

echo "e2e-repeat: $runs runs of make e2e on port ${SANDBOX_PORT:-4566}, commit $(git rev-parse --short HEAD)"
times=()
for ((n = 1; n <= runs; n++)); do
  start=$(date +%s.%N)
  timeout --kill-after=30 "$limit" make --no-print-directory e2e >"$logs/run-$n.log" 2>&1
  status=$?
  wall=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  times+=("$wall")
  if ((status != 0)); then
    echo "run $n/$runs: FAILED (exit $status) after $wall s; log $logs/run-$n.log:"
    grep -E '^(FAILED|ERROR)|passed|failed|unexpected skips|Timeout' "$logs/run-$n.log" | tail -20
    echo "e2e-repeat: $((n - 1)) consecutive run(s) passed before run $n; wall times (s): ${times[*]}"
    exit 1
  fi
  echo "run $n/$runs: passed in $wall s ($(grep -Eo '[0-9]+ passed' "$logs/run-$n.log" | tail -1))"
done
echo "e2e-repeat: all $runs runs passed; wall times (s): ${times[*]}"
