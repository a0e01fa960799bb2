#!/usr/bin/env bash
# The large simulated org (250,000 databases) synced side by side into a
# mirror file and into a real sqld over http://, against the same simulator
# in one run: first pass and unchanged pass of each, with tursync's wall
# time and peak RSS and sqld's peak RSS. Prints the table docs/PERFORMANCE.md
# carries, then issue 26's goals for sqld beside their floors. Needs
# /usr/bin/time, curl and sqld (scripts/install-sqld.sh).
# BENCH_DATABASES overrides the org's size.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
SQLD=${TURSYNC_SQLD:-$(./scripts/install-sqld.sh)}
go build -o "$work/tursync" ./cmd/tursync
T="$work/tursync"
simport=18281; sqldport=18282
dbflag=()
if [ -n "${BENCH_DATABASES:-}" ]; then dbflag=(--databases "$BENCH_DATABASES"); fi
"$T" simulate --listen "127.0.0.1:$simport" --scale large "${dbflag[@]}" > "$work/sim.log" 2>&1 &
for _ in $(seq 1 600); do curl -fsS "http://127.0.0.1:$simport/_simulator/stats" >/dev/null 2>&1 && break; sleep 0.1; done
"$SQLD" -d "$work/sqld-data" --http-listen-addr "127.0.0.1:$sqldport" > "$work/sqld.log" 2>&1 &
sqld=$!
for _ in $(seq 1 100); do
  curl -fsS -X POST "http://127.0.0.1:$sqldport/v2/pipeline" -d '{"requests":[{"type":"execute","stmt":{"sql":"SELECT 1"}}]}' >/dev/null 2>&1 && break
  sleep 0.1
done

config() { # mirror url
  cat > "$work/cfg-$2.yaml" <<YAML
mirror: {url: "$1"}
api: {base_url: "http://127.0.0.1:$simport", requests_per_second: 1000}
log: {level: debug}
accounts:
  - id: big
    token_env: BIG_TOKEN
YAML
}
config "file:$work/m.db" file
config "http://127.0.0.1:$sqldport" sqld

declare -A wall rss commit
pass() { # backend, label
  BIG_TOKEN=bench /usr/bin/time -v "$T" sync --config "$work/cfg-$1.yaml" > "$work/out" 2> "$work/time" || { cat "$work/out" "$work/time" >&2; exit 1; }
  grep -q ": complete" "$work/out" || { cat "$work/out" >&2; exit 1; }
  wall[$1-$2]=$(awk -F': ' '/Elapsed/ {split($2, a, ":"); printf "%.1f", a[1]*60 + a[2]}' "$work/time")
  rss[$1-$2]=$(awk '/Maximum resident/ {printf "%.0f", $6/1024}' "$work/time")
  commit[$1-$2]=$(grep -o '"msg":"org written".*"commit_ms":[0-9]*' "$work/time" | grep -o '[0-9]*$' | sort -n | tail -1)
}
pass file first; pass file unchanged
pass sqld first; pass sqld unchanged
sqld_rss=$(awk '/VmHWM/ {printf "%.0f", $2/1024}' "/proc/$sqld/status")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(go version | cut -d' ' -f3), sqld $("$SQLD" --version 2>/dev/null | head -1)"
echo "| pass | file: wall s | sqld wall s | sqld / file | org commit ms (file, sqld) | tursync peak RSS MiB (file, sqld) |"
echo "|---|---|---|---|---|---|"
for p in first unchanged; do
  echo "| $p | ${wall[file-$p]} | ${wall[sqld-$p]} | $(ratio "${wall[sqld-$p]}" "${wall[file-$p]}") | ${commit[file-$p]}, ${commit[sqld-$p]} | ${rss[file-$p]}, ${rss[sqld-$p]} |"
done
echo "sqld peak RSS: $sqld_rss MiB"
echo
echo "Issue 26's goals on sqld"
echo "| case | measured | floor | ratio | goal | met |"
echo "|---|---|---|---|---|---|"
goal() { # case, measured, floor, ratio, goal (at most)
  local met=no
  awk -v r="$4" -v g="$5" 'BEGIN {exit !(r <= g)}' && met=yes
  echo "| $1 | $2 | $3 | $4 | <= $5 | $met |"
}
goal "large first pass on sqld" "${wall[sqld-first]} s" "the file, ${wall[file-first]} s" "$(ratio "${wall[sqld-first]}" "${wall[file-first]}")" 2
goal "large unchanged pass on sqld" "${wall[sqld-unchanged]} s" "the file, ${wall[file-unchanged]} s" "$(ratio "${wall[sqld-unchanged]}" "${wall[file-unchanged]}")" 1.3
goal "its longest commit on sqld" "${commit[sqld-first]} ms" "sqld's transaction timeout, 5000 ms" "$(ratio "${commit[sqld-first]}" 5000)" 1
