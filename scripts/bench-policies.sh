#!/usr/bin/env bash
# What the built-in policy pack costs (docs/PERFORMANCE.md, "Policies"),
# against `tursync simulate` on loopback: the large org (250,000
# databases) and an org of BENCH_POLICY_MEMBERS members (default
# 1000000), each synced into a mirror file, then
#   - an unchanged pass without policies: the reference;
#   - `tursync policy check` with every builtin of the pack, twice: the
#     first evaluation (which opens every violation) and a full one with
#     nothing changed since (policy check runs every query);
#   - an unchanged `tursync sync` with the pack configured: the cost each
#     pass pays after it, where a builtin's last evaluation stands when the
#     pass wrote nothing (docs/policies.md, "When it runs"), read from the
#     pass's "policies after the pass" log line.
# Needs /usr/bin/time and sqlite3. Takes about 5 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
members=${BENCH_POLICY_MEMBERS:-1000000}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
go build -o "$work/tursync" ./cmd/tursync
T="$work/tursync"
port=18391

start_sim() { # args: simulate flags
  port=$((port + 1))
  "$T" simulate --listen "127.0.0.1:$port" "$@" --token bench > "$work/sim.log" 2>&1 &
  sim=$!
  for _ in $(seq 1 600); do curl -fsS "http://127.0.0.1:$port/_simulator/stats" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "simulator did not start" >&2; exit 1
}
stop_sim() { kill "$sim"; wait "$sim" 2>/dev/null || true; }
config() { # mirror file; policies appended when $2 is "pack"
  cat > "$work/cfg.yaml" <<YAML
mirror: {url: "file:$1"}
api: {base_url: "http://127.0.0.1:$port", requests_per_second: 1000}
log: {level: ${3:-warn}, format: text}
accounts:
  - id: big
    token_env: BIG_TOKEN
YAML
  if [ "${2:-}" = pack ]; then cat >> "$work/cfg.yaml" <<'YAML'
policies:
  - {name: stale-invites, builtin: stale_invites, params: {days: 30}}
  - {name: old-tokens, builtin: old_api_tokens, params: {days: 90}}
  - {name: two-owners, builtin: owner_count, params: {min: 2}, severity: critical}
  - {name: outsiders, builtin: members_outside_domains, params: {domains: [example.com]}}
  - {name: eu-residency, builtin: database_outside_locations, params: {locations: [aws-eu-west-1, aws-us-east-1]}}
  - {name: unprotected, builtin: unprotected_databases, params: {name_glob: "db-00*"}}
  - {name: quota, builtin: usage_over_quota, params: {percent: 80}}
  - {name: unused, builtin: unused_databases, params: {days: 30}}
  - {name: stale-scopes, builtin: scope_stale, params: {max_age: 24h}}
YAML
  fi
}
timed() { # command...; sets wall
  BIG_TOKEN=bench /usr/bin/time -v "$@" > "$work/out" 2> "$work/time" || true
  wall=$(awk -F': ' '/Elapsed/ {split($2, a, ":"); printf "%.2f", a[1]*60 + a[2]}' "$work/time")
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }

echo "machine: $(nproc) cores, $(go version | cut -d' ' -f3)"
echo
echo "| org | unchanged pass | first evaluation | full evaluation | full / pass | unchanged pass with the pack | its policies | policies / pass | open violations |"
echo "|---|---|---|---|---|---|---|---|---|"
for case in large members; do
  if [ "$case" = large ]; then
    start_sim --scale large --databases 250000; what="250,000 databases"
  else
    start_sim --scale large --databases 1000 --members "$members"; what="$members members"
  fi
  db="$work/$case.db"
  config "$db"
  timed "$T" sync --config "$work/cfg.yaml"
  timed "$T" sync --config "$work/cfg.yaml"; pass=$wall
  config "$db" pack
  timed "$T" policy check --config "$work/cfg.yaml"; first=$wall
  timed "$T" policy check --config "$work/cfg.yaml"; steady=$wall
  config "$db" pack debug
  timed "$T" sync --config "$work/cfg.yaml"; withpack=$wall
  # The duration of "policies after the pass" (Go's format: 1.2s, 35ms, 800µs).
  after=$(grep -o 'msg="policies after the pass".*duration=[^ ]*' "$work/time" | sed 's/.*duration=//' |
    awk '/ms$/ {sub("ms", ""); printf "%.3f", $1 / 1000; next} /µs$/ {sub("µs", ""); printf "%.3f", $1 / 1e6; next} /s$/ {sub("s", ""); printf "%.3f", $1}')
  grep -o 'msg="policies after the pass".*' "$work/time" >> "$work/per-policy"
  open=$(sqlite3 "$db" "select count(*) from policy_violations where resolved_at is null")
  printf '| %s | %s s | %s s | %s s | %s | %s s | %s s | %s | %s |\n' "$what" "$pass" "$first" "$steady" "$(ratio "$steady" "$pass")" \
    "$withpack" "$after" "$(ratio "$after" "$pass")" "$open"
  sqlite3 "$db" "select '  ' || policy || ': ' || open || ' open, ' || duration_ms || ' ms' from policy_status order by duration_ms desc" >> "$work/per-policy"
  echo "  ($what, the full evaluation; the line before: the pass with the pack)" >> "$work/per-policy"
  stop_sim
done
echo
echo "Each policy's query in the full evaluation (policy_status.duration_ms), and the pass with the pack:"
cat "$work/per-policy"
