#!/usr/bin/env bash
# Compares two builds of tursync on one simulated org of BENCH_DATABASES
# databases (default 100,000): a first and an unchanged second pass of the
# organization and databases scopes, each build in turn, BENCH_REPS times
# (default 2), with wall, user and system time and the peak RSS of each.
# Usage: scripts/bench-compare.sh OLD_REV   (the new build is the work tree)
# docs/PERFORMANCE.md, "The field cap", was measured with it.
set -euo pipefail
cd "$(dirname "$0")/.."
old_rev=${1:?usage: scripts/bench-compare.sh OLD_REV}
n=${BENCH_DATABASES:-100000}
reps=${BENCH_REPS:-2}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; git worktree remove --force "$work/old" 2>/dev/null || true; rm -rf "$work"' EXIT
git worktree add -q "$work/old" "$old_rev"
(cd "$work/old" && go build -o "$work/tursync-old" ./cmd/tursync)
go build -o "$work/tursync-new" ./cmd/tursync
port=18999
"$work/tursync-new" simulate --listen "127.0.0.1:$port" --scale large --databases "$n" --token bench > "$work/sim.log" 2>&1 &
for _ in $(seq 1 300); do curl -fsS "http://127.0.0.1:$port/_simulator/stats" >/dev/null 2>&1 && break; sleep 0.2; done
for rep in $(seq 1 "$reps"); do
  for v in old new; do
    rm -f "$work/m-$v.db"*
    cat > "$work/cfg-$v.yaml" <<YAML
mirror: {url: "file:$work/m-$v.db"}
api: {base_url: "http://127.0.0.1:$port", requests_per_second: 10000}
log: {level: error}
accounts:
  - id: acme
    token_env: BENCH_TOKEN
    resources: [organization, databases]
YAML
    for pass in first second; do
      BENCH_TOKEN=bench /usr/bin/time -f "$v rep$rep $pass: %e s wall, %U s user, %S s sys, %M KB maxrss" \
        "$work/tursync-$v" sync --config "$work/cfg-$v.yaml" > "$work/out" 2> "$work/time" || { cat "$work/out" "$work/time" >&2; exit 1; }
      tail -1 "$work/time"
    done
  done
done
