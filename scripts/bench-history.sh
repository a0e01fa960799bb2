#!/usr/bin/env bash
# What history costs (docs/PERFORMANCE.md, "History"), against `tursync
# simulate` on loopback, in one run:
#
# Writes: the large org (250,000 databases, 5,000 members) synced by this
# tree's tursync and by the tree before history (BENCH_HISTORY_BASE,
# default c90dbf3, which writes no row_versions and matches no audit
# event), each into its own mirror file from one simulator, one after the
# other at each step: a first pass, an unchanged pass, a pass after 1% of
# the databases changed and one after 1% of the members' roles changed
# (each with its audit event). Wall time of each, and the versions this
# tree wrote.
#
# Reads: one org of BENCH_HISTORY_MEMBERS members (default 100000) after
# BENCH_HISTORY_ROUNDS passes (default 10) that each change 1% of the
# roles; each query runs three times with sqlite3, the best time beside
# its floor, the same question asked of role_assignments alone.
#
# Needs git, sqlite3 and /usr/bin/time. Takes about 5 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
base=${BENCH_HISTORY_BASE:-c90dbf3}
n=${BENCH_HISTORY_MEMBERS:-100000}
rounds=${BENCH_HISTORY_ROUNDS:-10}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; git worktree remove --force "$work/base" 2>/dev/null || true; rm -rf "$work"' EXIT
go build -o "$work/tursync" ./cmd/tursync
git worktree add --detach "$work/base" "$base" > /dev/null 2>&1
(cd "$work/base" && go build -o "$work/tursync-base" ./cmd/tursync)
port=18291

start_sim() { # args: simulate flags
  port=$((port + 1))
  "$work/tursync" simulate --listen "127.0.0.1:$port" "$@" --token bench > "$work/sim.log" 2>&1 &
  sim=$!
  for _ in $(seq 1 600); do curl -fsS "http://127.0.0.1:$port/_simulator/stats" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "simulator did not start" >&2; exit 1
}
stop_sim() { kill "$sim"; wait "$sim" 2>/dev/null || true; }
config() { # mirror file
  cat > "$work/cfg.yaml" <<YAML
mirror: {url: "file:$1"}
api: {base_url: "http://127.0.0.1:$port", requests_per_second: 1000}
log: {level: warn}
accounts:
  - id: big
    token_env: BIG_TOKEN
YAML
}
pass() { # binary; sets wall
  BIG_TOKEN=bench /usr/bin/time -v "$1" sync --config "$work/cfg.yaml" > /dev/null 2> "$work/time"
  wall=$(awk -F': ' '/Elapsed/ {split($2, a, ":"); printf "%.2f", a[1]*60 + a[2]}' "$work/time")
}
versions() { sqlite3 "$1" "select count(*) from row_versions" 2>/dev/null || echo -; }
churn() { curl -fsS -X POST "http://127.0.0.1:$port/_simulator/churn?fraction=0.01&what=$1" | sed 's/.*"changed":\([0-9]*\).*/\1/'; }

echo "machine: $(nproc) cores, $(go version | cut -d' ' -f3), sqlite3 $(sqlite3 --version | cut -d' ' -f1); base $base"
echo
echo "| large org pass | this tree | before history ($base) | ratio | versions written |"
echo "|---|---|---|---|---|"
# Both trees sync the same simulator into their own mirror, one after the
# other at each step, so they read the same API state on a machine in the
# same state.
declare -A walls
start_sim --scale large --databases 250000
step() { # case
  for bin in tursync-base tursync; do
    config "$work/$bin.db"
    pass "$work/$bin"; walls[$bin,$1]=$wall
  done
}
# A fresh simulator answers its first pass slower (measured: whichever
# tree went first was 2 to 4 s slower): one untimed pass warms it.
config "$work/warm.db"; pass "$work/tursync-base"; rm -f "$work/warm.db"*
step first; v0=$(versions "$work/tursync.db")
step unchanged; v1=$(versions "$work/tursync.db")
dbs=$(churn databases)
step dbs; v2=$(versions "$work/tursync.db")
members=$(churn members)
step members; v3=$(versions "$work/tursync.db")
stop_sim
delta=("$v0" "$((v1 - v0))" "$((v2 - v1))" "$((v3 - v2))")
explained=$(sqlite3 "$work/tursync.db" "select count(*) from change_events where source = 'audit_log'")
events=$(sqlite3 "$work/tursync.db" "select count(*) from change_events")
i=0
for c in first unchanged dbs members; do
  case $c in
    first) what="first pass" ;;
    unchanged) what="unchanged pass" ;;
    dbs) what="1% of databases changed ($dbs)" ;;
    members) what="1% of roles changed ($members)" ;;
  esac
  printf '| %s | %s s | %s s | %s | %s |\n' "$what" "${walls[tursync,$c]}" "${walls[tursync-base,$c]}" \
    "$(awk -v a="${walls[tursync,$c]}" -v b="${walls[tursync-base,$c]}" 'BEGIN {printf "%.2f", a / b}')" "${delta[$i]}"
  i=$((i + 1))
done
echo
echo "change events explained by the audit log: $explained of $events"

# --- reads: role history after many role changes
start_sim --scale large --databases 1000 --members "$n"
config "$work/m.db"
pass "$work/tursync"
at=$(sqlite3 "$work/m.db" "select max(first_seen_at) from role_assignments")
for _ in $(seq 1 "$rounds"); do
  churn members > /dev/null
  pass "$work/tursync"
done
stop_sim
best() { # query: best of three wall times, in seconds
  local b=""
  for _ in 1 2 3; do
    local s e
    s=$(date +%s.%N); sqlite3 "$work/m.db" "$1" > /dev/null; e=$(date +%s.%N)
    b=$(awk -v b="$b" -v s="$s" -v e="$e" 'BEGIN {t = e - s; if (b == "" || t < b) b = t; printf "%.3f", b}')
  done
  echo "$b"
}
echo
echo "$(sqlite3 "$work/m.db" "select count(*) from role_assignments") role assignments, $rounds passes of 1% role changes: $(versions "$work/m.db") past versions, $(sqlite3 "$work/m.db" "select count(*) from role_assignment_history") in the view"
echo
echo "| query | view | floor (role_assignments) | ratio |"
echo "|---|---|---|---|"
row() { printf '| %s | %s s | %s s | %s |\n' "$1" "$2" "$3" "$(awk -v a="$2" -v b="$3" 'BEGIN {printf "%.1fx", a / b}')"; }
row "admins at T (the first pass)" \
  "$(best "select count(*) from role_assignment_history where role_id = 'admin' and valid_from <= '$at' and (valid_to is null or valid_to > '$at')")" \
  "$(best "select count(*) from role_assignments where role_id = 'admin' and deleted_at is null")"
row "one user's versions" \
  "$(best "select * from role_assignment_history where account_id = 'big' and organization_id = (select min(organization_id) from role_assignments) and user_id = 'user00003' order by valid_from")" \
  "$(best "select * from role_assignments where account_id = 'big' and organization_id = (select min(organization_id) from role_assignments) and user_id = 'user00003'")"
row "every version" \
  "$(best "select count(*) from role_assignment_history")" \
  "$(best "select count(*) from role_assignments")"
