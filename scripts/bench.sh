#!/usr/bin/env bash
# End-to-end performance cases of docs/PERFORMANCE.md, side by side in one
# run, against `tursync simulate` on loopback:
#   large first pass vs the prepared-statement baseline (tursync-bench baseline)
#     and the write floor (tursync-bench writefloor: one tuned transaction)
#   large unchanged second pass vs fetch-only (tursync-bench fetch) and the
#     fetch floor (tursync-bench fetchfloor: one-pass decode keeping raw bytes)
#   a pass after 1% of the databases changed
#   cost growth: 10k, 100k, 250k databases
#   fleet: 1,000 accounts, 20 ms latency, 50 requests/s per token, 16 at once,
#     the first pass against max(network ideal, the fleet's writefloor)
#   mirror growth over BENCH_GROWTH_PASSES passes with 1% churn (default 30)
#   members at scale: 10k, 100k, 1M members in one org of 1,000 databases,
#     the 1M unchanged pass beside its fetch floor
#   cross-tenant extraction over 1,002 tenant namespaces of one sqld
#     (scripts/bench-extract.sh)
#   the large org exported to PostgreSQL and to Parquet beside their floors
#     (scripts/bench-export.sh)
# Prints tables, then the goals of issue 26 each beside its floor; needs
# /usr/bin/time, curl and sqlite3. Takes about 9 minutes.
# BENCH_ONLY=large,members,fleet (any of large, fleet, members, extract and
# export, comma-separated) runs those parts.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
go build -o "$work/tursync" ./cmd/tursync
go build -o "$work/tursync-bench" ./cmd/tursync-bench
T="$work/tursync"; B="$work/tursync-bench"
port=18181

part() { [ -z "${BENCH_ONLY:-}" ] || [[ ",$BENCH_ONLY," == *",$1,"* ]]; }
goals=()
goal() { # case, measured, floor, ratio, goal (a ratio at most)
  local met=no
  awk -v r="$4" -v g="$5" 'BEGIN {exit !(r <= g)}' && met=yes
  goals+=("$(printf '| %-44s | %9s | %-34s | %6s | %6s | %3s |' "$1" "$2" "$3" "$4" "<= $5" "$met")")
}

rows=()
row() { rows+=("$(printf '| %-34s | %8s | %9s | %9s | %12s | %9s |' "$@")"); }

start_sim() { # args: simulate flags
  "$T" simulate --listen "127.0.0.1:$port" "$@" > "$work/sim.log" 2>&1 &
  sim=$!
  for _ in $(seq 1 600); do
    curl -fsS "http://127.0.0.1:$port/_simulator/stats" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "simulator did not start" >&2; exit 1
}
stop_sim() { kill "$sim"; wait "$sim" 2>/dev/null || true; port=$((port + 1)); }

config() { # mirror file, rps, max concurrent; accounts on stdin
  { echo "mirror: {url: \"file:$1\"}"
    echo "api: {base_url: \"http://127.0.0.1:$port\", requests_per_second: $2}"
    echo "log: {level: warn}"
    echo "sync: {max_concurrent_accounts: $3}"
    echo "accounts:"
    cat; } > "$work/cfg.yaml"
}

# pass runs one `tursync sync`; sets wall, rss_mib, reqs, written (created +
# updated + deleted rows).
pass() {
  BIG_TOKEN=bench /usr/bin/time -v "$T" sync --config "$work/cfg.yaml" > "$work/out" 2> "$work/time" || true
  wall=$(awk -F': ' '/Elapsed/ {split($2, a, ":"); printf "%.2f", a[1]*60 + a[2]}' "$work/time")
  rss_mib=$(awk '/Maximum resident/ {printf "%.0f", $6/1024}' "$work/time")
  reqs=$(grep -o '([0-9]* API requests' "$work/out" | awk '{s += substr($1, 2)} END {print s}')
  written=$(grep -o 'create [0-9]*, update [0-9]*, delete [0-9]*' "$work/out" | awk '{gsub(",", ""); s += $2 + $4 + $6} END {print s + 0}')
  created=$(grep -o 'create [0-9]*' "$work/out" | awk '{s += $2} END {print s + 0}')
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
mib() { awk -v b="$(stat -c %s "$1")" 'BEGIN {printf "%.0f", b / 1048576}'; }
events() { sqlite3 "$1" 'select count(*) from change_events'; }

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(go version | cut -d' ' -f3)"
large_lb() { echo $((1 + 6 + ($1 + 999) / 1000 + $2)); } # org list, 6 per-org calls, database pages, audit pages

# --- large org: first pass vs baseline, second pass vs fetch-only, 1% churn
growth=()
sizes="10000 100000 250000"
part large || sizes=""

mirror_growth=""
for n in $sizes; do
  start_sim --scale large --databases "$n" --token bench
  db="$work/m$n.db"
  echo "  - id: big
    token_env: BIG_TOKEN" | config "$db" 1000 4
  pass
  first_wall=$wall; first_rss=$rss_mib; first_reqs=$reqs
  growth+=("$(printf '| %7s | %6s s | %5s MiB | %5s | %6s s | %5s MiB | %5s | %5s MiB |' "$n" "$wall" "$rss_mib" "$reqs" x x x x)")
  if [ "$n" = 250000 ]; then
    e2e=$(awk -v r="$created" -v w="$wall" 'BEGIN {printf "%.0f", r / w}')
    base=$("$B" baseline --api "http://127.0.0.1:$port" --token bench --db "$work/base.db")
    base_rps=$(echo "$base" | sed 's/.*"rows_per_sec":\([0-9.]*\).*/\1/')
    row "large first pass (250k dbs)" "$wall s" "$e2e" "$(ratio "$e2e" "$base_rps")" "$reqs / $(large_lb "$n" 200)" "$rss_mib MiB"
    row "baseline: prepared upserts" "-" "$(printf '%.0f' "$base_rps")" "1.00" "-" "-"
    wf=$("$B" writefloor --api "http://127.0.0.1:$port" --token bench --db "$work/floor.db")
    wf_write=$(echo "$wf" | sed 's/.*"write_seconds":\([0-9.]*\).*/\1/')
    wf_rps=$(echo "$wf" | sed 's/.*"rows_per_sec":\([0-9.]*\).*/\1/')
    row "writefloor: one tuned transaction" "$(printf '%.2f' "$wf_write") s" "$(printf '%.0f' "$wf_rps")" "$(ratio "$first_wall" "$wf_write")x pass" "-" "-"
    goal "large first pass (250k databases)" "$first_wall s" "writefloor $(printf '%.2f' "$wf_write") s" "$(ratio "$first_wall" "$wf_write")" 1.3
    goal "  in rows/s, against prepared upserts" "$e2e" "baseline $(printf '%.0f' "$base_rps") rows/s" "$(ratio "$base_rps" "$e2e")" 1.67
    rm -f "$work/floor.db"*
  fi
  pass
  second_wall=$wall
  growth[-1]=$(printf '| %7s | %6s s | %5s MiB | %5s | %6s s | %5s MiB | %5s | %5s MiB |' "$n" "$first_wall" "$first_rss" "$first_reqs" "$wall" "$rss_mib" "$reqs" "$(mib "$db")")
  if [ "$n" = 250000 ]; then
    fetch=$("$B" fetch --api "http://127.0.0.1:$port" --token bench)
    fetch_wall=$(echo "$fetch" | sed 's/.*"wall_seconds":\([0-9.]*\).*/\1/')
    ev0=$(events "$db")
    row "large unchanged second pass" "$second_wall s" "-" "$(ratio "$second_wall" "$fetch_wall")" "$reqs / $(large_lb "$n" 1)" "$rss_mib MiB"
    row "  (rows written, events added)" "$written" "-" "-" "-" "-"
    row "fetch-only: every page decoded" "$(printf '%.2f' "$fetch_wall") s" "-" "1.00" "$(echo "$fetch" | sed 's/.*"requests":\([0-9]*\).*/\1/')" "-"
    ff=$("$B" fetchfloor --api "http://127.0.0.1:$port" --token bench)
    ff_wall=$(echo "$ff" | sed 's/.*"wall_seconds":\([0-9.]*\).*/\1/')
    row "fetchfloor: one-pass decode, raw kept" "$(printf '%.2f' "$ff_wall") s" "-" "$(ratio "$second_wall" "$ff_wall")x pass" "$(echo "$ff" | sed 's/.*"requests":\([0-9]*\).*/\1/')" "-"
    goal "large unchanged pass" "$second_wall s" "fetchfloor $(printf '%.2f' "$ff_wall") s" "$(ratio "$second_wall" "$ff_wall")" 1.3
    changed=$(curl -fsS -X POST "http://127.0.0.1:$port/_simulator/churn?fraction=0.01" | sed 's/.*"changed":\([0-9]*\).*/\1/')
    pass
    row "1% churn pass ($changed dbs changed)" "$wall s" "-" "-" "$reqs / $(large_lb "$n" 1)" "$rss_mib MiB"
    row "  (rows written, events added)" "$written" "$(( $(events "$db") - ev0 ))" "-" "-" "-"

    passes=${BENCH_GROWTH_PASSES:-30}
    size0=$(mib "$db"); ev0=$(events "$db"); walmax=0
    for _ in $(seq 1 "$passes"); do
      curl -fsS -X POST "http://127.0.0.1:$port/_simulator/churn?fraction=0.01" >/dev/null
      pass
      w=$(stat -c %s "$db-wal" 2>/dev/null || echo 0); [ "$w" -gt "$walmax" ] && walmax=$w
    done
    mirror_growth="$passes passes of 1% churn: mirror $size0 -> $(mib "$db") MiB, change_events $ev0 -> $(events "$db") (+$(( ($(events "$db") - ev0) / passes )) a pass), largest WAL $(awk -v b="$walmax" 'BEGIN {printf "%.0f", b/1048576}') MiB"
  fi
  stop_sim
done

# --- members at scale: one org of 1,000 databases and N members
members=()
for n in 10000 100000 1000000; do
  part members || break
  start_sim --scale large --databases 1000 --members "$n" --token bench
  db="$work/members$n.db"
  echo "  - id: big
    token_env: BIG_TOKEN" | config "$db" 1000 4
  pass
  f_wall=$wall; f_rss=$rss_mib; f_written=$written
  pass
  ff=$("$B" fetchfloor --api "http://127.0.0.1:$port" --token bench)
  ff_wall=$(echo "$ff" | sed 's/.*"wall_seconds":\([0-9.]*\).*/\1/')
  [ "$n" = 10000 ] && rss10k=$rss_mib
  if [ "$n" = 1000000 ]; then
    goal "1M members, unchanged pass" "$wall s" "fetchfloor $(printf '%.2f' "$ff_wall") s" "$(ratio "$wall" "$ff_wall")" 1.5
    goal "  its peak RSS, against the 10k-member pass" "$rss_mib MiB" "$rss10k MiB" "$(ratio "$rss_mib" "$rss10k")" 2
  fi
  members+=("$(printf '| %9s | %6s s | %5s MiB | %7s | %6s s | %5s MiB | %5s | %6.2f s | %5sx | %5s MiB |' "$n" "$f_wall" "$f_rss" "$f_written" "$wall" "$rss_mib" "$written" "$ff_wall" "$(ratio "$wall" "$ff_wall")" "$(mib "$db")")")
  rm -f "$db"*
  stop_sim
done

# --- fleet: 1,000 accounts of one small org each, 20 ms latency
if part fleet; then
start_sim --fleet 1000 --latency 20ms
mkdir -p "$work/tokens"
for i in $(seq 1 1000); do
  echo "fleet-$i" > "$work/tokens/$i"
  printf '  - id: a%d\n    token_file: %s\n' "$i" "$work/tokens/$i"
done | config "$work/fleet.db" 50 16
pass
ideal=$(awk -v r="$reqs" 'BEGIN {printf "%.2f", r * 0.020 / 16}')
# The lower bounds per account: 11 requests before the billing resources,
# and 4 more since (the token's user, subscription, plans, invoices).
row "fleet first pass: 1000 accounts" "$wall s" "-" "$(ratio "$wall" "$ideal") ideal" "$reqs / $((1000 * 15))" "$rss_mib MiB"
row "  (rows written)" "$written" "-" "-" "-" "-"
fleet_first=$wall
pass # unchanged: each account reads 1 audit page
ideal2=$(awk -v r="$reqs" 'BEGIN {printf "%.2f", r * 0.020 / 16}')
fleet_unchanged=$wall
row "fleet unchanged pass" "$wall s" "-" "$(ratio "$wall" "$ideal2") ideal" "$reqs / $((1000 * 13))" "$rss_mib MiB"
maxrps=$(curl -fsS "http://127.0.0.1:$port/_simulator/stats" | grep -o '"max_requests_per_second":{[^}]*}' | grep -o ':[0-9]*' | tr -d : | sort -n | tail -1)
stop_sim
# The fleet's write floor: the same accounts (the same seed) from a
# simulator without the latency, every account's rows in one tuned
# transaction; only the writing is timed.
start_sim --fleet 1000
seq 1 1000 | sed 's/^/fleet-/' > "$work/tokens.txt"
fwf=$("$B" writefloor --api "http://127.0.0.1:$port" --tokens "$work/tokens.txt" --db "$work/fleetfloor.db")
fwf_write=$(echo "$fwf" | sed 's/.*"write_seconds":\([0-9.]*\).*/\1/')
fbound=$(awk -v a="$ideal" -v b="$fwf_write" 'BEGIN {printf "%.2f", (a > b ? a : b)}')
row "fleet writefloor: one transaction" "$(printf '%.2f' "$fwf_write") s" "$(printf '%.0f' "$(echo "$fwf" | sed 's/.*"rows_per_sec":\([0-9.]*\).*/\1/')")" "$(ratio "$fleet_first" "$fbound")x max" "-" "-"
rm -f "$work/fleetfloor.db"*
stop_sim
goal "fleet first pass (1,000 accounts)" "$fleet_first s" "max(ideal $ideal s, writefloor $(printf '%.2f' "$fwf_write") s)" "$(ratio "$fleet_first" "$fbound")" 1.25
goal "fleet unchanged pass" "$fleet_unchanged s" "ideal $ideal2 s" "$(ratio "$fleet_unchanged" "$ideal2")" 1.25
fi

if [ ${#rows[@]} -gt 0 ]; then
  echo
  echo "| case                               |     wall |    rows/s | vs ref    | requests / LB | peak RSS |"
  echo "|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
fi
echo
[ -n "${ideal:-}" ] && echo "fleet ideal (requests x 20 ms / 16): first pass $ideal s, unchanged pass $ideal2 s; busiest token second: $maxrps requests (limit 50)"
[ -n "$mirror_growth" ] && echo "$mirror_growth"
if [ ${#growth[@]} -gt 0 ]; then
  echo
  echo "| databases | first pass | peak RSS | requests | second pass | peak RSS | requests | mirror |"
  echo "|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${growth[@]}"
fi
if [ ${#members[@]} -gt 0 ]; then
  echo
  echo "| members | first pass | peak RSS | rows written | unchanged pass | peak RSS | rows written | fetchfloor | pass / floor | mirror |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${members[@]}"
fi
if [ ${#goals[@]} -gt 0 ]; then
  echo
  echo "Issue 26's goals (the sqld rows: scripts/bench-remote.sh)"
  echo "| case | measured | floor | ratio | goal | met |"
  echo "|---|---|---|---|---|---|"
  printf '%s\n' "${goals[@]}"
fi
if part extract; then echo; scripts/bench-extract.sh; fi
if part export; then echo; scripts/bench-export.sh; fi
