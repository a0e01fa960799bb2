#!/usr/bin/env bash
# What role_assignment_history costs to read. It is a view over
# role_assignments and their change_events, so a pass writes nothing for
# it; the cost is on the reader. One org of N members (default 100000,
# BENCH_HISTORY_MEMBERS) is synced into a file mirror, then each query runs
# three times with sqlite3 and the best time is printed beside its floor,
# the same question asked of role_assignments alone:
#   admins at T: the history view, vs the live admins
#   every version: count(*) over the view, vs count(*) over role_assignments
# Needs sqlite3. Takes about a minute at 100,000 members.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${BENCH_HISTORY_MEMBERS:-100000}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
go build -o "$work/tursync" ./cmd/tursync
port=18291
"$work/tursync" simulate --listen "127.0.0.1:$port" --scale large --databases 1000 --members "$n" --token bench > "$work/sim.log" 2>&1 &
for _ in $(seq 1 600); do curl -fsS "http://127.0.0.1:$port/_simulator/stats" >/dev/null 2>&1 && break; sleep 0.1; done
cat > "$work/cfg.yaml" <<YAML
mirror: {url: "file:$work/m.db"}
api: {base_url: "http://127.0.0.1:$port", requests_per_second: 1000}
log: {level: warn}
accounts:
  - id: big
    token_env: BIG_TOKEN
YAML
BIG_TOKEN=bench "$work/tursync" sync --config "$work/cfg.yaml" > /dev/null
at=$(sqlite3 "$work/m.db" "select max(first_seen_at) from role_assignments")
best() { # query: best of three wall times, in seconds
  local b=""
  for _ in 1 2 3; do
    local s e
    s=$(date +%s.%N); sqlite3 "$work/m.db" "$1" > /dev/null; e=$(date +%s.%N)
    b=$(awk -v b="$b" -v s="$s" -v e="$e" 'BEGIN {t = e - s; if (b == "" || t < b) b = t; printf "%.3f", b}')
  done
  echo "$b"
}
rows=$(sqlite3 "$work/m.db" "select count(*) from role_assignments")
echo "machine: $(nproc) cores, sqlite3 $(sqlite3 --version | cut -d' ' -f1); $rows role assignments"
echo
echo "| query | view | floor (role_assignments) | ratio |"
echo "|---|---|---|---|"
row() { printf '| %s | %s s | %s s | %s |\n' "$1" "$2" "$3" "$(awk -v a="$2" -v b="$3" 'BEGIN {printf "%.1fx", a / b}')"; }
row "admins at T" \
  "$(best "select count(*) from role_assignment_history where role_id = 'admin' and valid_from <= '$at' and (valid_to is null or valid_to > '$at')")" \
  "$(best "select count(*) from role_assignments where role_id = 'admin' and deleted_at is null")"
row "every version" \
  "$(best "select count(*) from role_assignment_history")" \
  "$(best "select count(*) from role_assignments")"
