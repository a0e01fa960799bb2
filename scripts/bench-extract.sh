#!/usr/bin/env bash
# Cross-tenant extraction against about 1,000 tenant namespaces of one real
# sqld (the test bed of README "Cross-tenant extraction by hand"): for
# concurrency 1, 4, 16 and 64, `tursync extract` (wall, databases/s, peak
# RSS, token mints) beside tursync-bench extractfloor (the same statement in
# the same namespaces at the same concurrency, rows dropped), each the
# median of BENCH_EXTRACT_REPS (3) interleaved runs, then peak RSS over 30,
# 300 and all databases at concurrency 16, then concurrency 16 into a
# mirror on a second sqld.
# Needs sqld (TURSYNC_SQLD or scripts/install-sqld.sh), /usr/bin/time and
# curl. bench.sh runs it last (BENCH_ONLY=extract runs only it).
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
go build -o "$work/tursync" ./cmd/tursync
go build -o "$work/tursync-bench" ./cmd/tursync-bench
T="$work/tursync"; B="$work/tursync-bench"
sqld=${TURSYNC_SQLD:-$(scripts/install-sqld.sh)}
api=18381; sp=18382; ap=18383
per_org=${BENCH_EXTRACT_PER_ORG:-334}   # 3 orgs: 1,002 namespaces

"$B" tenantkey --out "$work" >/dev/null
"$sqld" -d "$work/tenants" --http-listen-addr "127.0.0.1:$sp" --admin-listen-addr "127.0.0.1:$ap" \
  --enable-namespaces --max-active-namespaces 4096 --auth-jwt-key-file "$work/tenant.pub" > "$work/sqld.log" 2>&1 &
"$T" simulate --listen "127.0.0.1:$api" --scale small --databases "$per_org" --token bench \
  --tenant-sqld "http://127.0.0.1:$sp" --tenant-sqld-admin "http://127.0.0.1:$ap" --tenant-jwt-key "$work/tenant.key" > "$work/sim.log" 2>&1 &
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$api/_simulator/stats" >/dev/null 2>&1 && break; sleep 0.1; done

stmt="select date(created_at) as day, count(*) as orders, sum(total) as revenue from orders group by 1"
mirror_url="file:$work/m.db"
config() { # concurrency, name glob
  cat > "$work/cfg.yaml" <<YAML
mirror: {url: "$mirror_url"}
api: {base_url: "http://127.0.0.1:$api", requests_per_second: 1000}
log: {level: warn}
accounts:
  - id: bench
    token_env: BENCH_TOKEN
extract:
  concurrency: $1
  database_url: "http://{hostname}"
  proxy: "http://127.0.0.1:$sp"
  queries:
    - name: orders_daily
      sql: "$stmt"
      databases: {name: "$2"}
YAML
}
mints() { curl -fsS "http://127.0.0.1:$api/_simulator/stats" | grep -o '"/v1/organizations/{organizationSlug}/groups/{groupName}/auth/tokens":[0-9]*' | cut -d: -f2 || echo 0; }
extract() { # sets wall, rss, ok, minted
  local m0; m0=$(mints); m0=${m0:-0}
  BENCH_TOKEN=bench /usr/bin/time -v "$T" extract --config "$work/cfg.yaml" > "$work/out" 2> "$work/time" || true
  wall=$(awk -F': ' '/Elapsed/ {split($2, a, ":"); printf "%.2f", a[1]*60 + a[2]}' "$work/time")
  rss=$(awk '/Maximum resident/ {printf "%.0f", $6/1024}' "$work/time")
  ok=$(grep -o '[0-9]* ok' "$work/out" | cut -d' ' -f1)
  minted=$(( $(mints) - m0 ))
}

median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
reps=${BENCH_EXTRACT_REPS:-3}
config 16 "*"
BENCH_TOKEN=bench "$T" sync --config "$work/cfg.yaml" > /dev/null
extract   # the first run creates and seeds the namespaces
echo "machine: $(nproc) cores, $(go version | cut -d' ' -f3); warm-up (creates the namespaces): $ok databases in $wall s"
echo
echo "median of $reps interleaved runs each; peak RSS the largest of them; mints per run"
echo
echo "| concurrency | tursync extract | databases/s | peak RSS | mints | extractfloor | databases/s | extract / floor |"
echo "|---|---|---|---|---|---|---|---|"
for c in 1 4 16 64; do
  config "$c" "*"
  walls=(); fwalls=(); rsss=()
  for _ in $(seq 1 "$reps"); do   # interleaved, so a noisy moment hits both
    extract; walls+=("$wall"); rsss+=("$rss")
    floor=$("$B" extractfloor --api "http://127.0.0.1:$api" --token bench --proxy "http://127.0.0.1:$sp" --sql "$stmt" --concurrency "$c")
    fwalls+=("$(echo "$floor" | sed 's/.*"wall_seconds":\([0-9.]*\).*/\1/')")
    fdbs=$(echo "$floor" | sed 's/.*"databases":\([0-9]*\).*/\1/')
  done
  if [ "$ok" != "$fdbs" ]; then   # every database must answer, or the figures mean nothing
    echo "bench-extract: tursync extract read $ok databases of $fdbs:" >&2; cat "$work/out" "$work/time" >&2; exit 1
  fi
  wall=$(printf '%s\n' "${walls[@]}" | median); fwall=$(printf '%s\n' "${fwalls[@]}" | median)
  rss=$(printf '%s\n' "${rsss[@]}" | sort -n | tail -1)
  printf '| %s | %s s (%s ok) | %.0f | %s MiB | %s | %.2f s | %.0f | %.2fx |\n' "$c" "$wall" "$ok" "$(awk -v n="$ok" -v w="$wall" 'BEGIN {print n / w}')" \
    "$rss" "$minted" "$fwall" "$(awk -v n="$fdbs" -v w="$fwall" 'BEGIN {print n / w}')" "$(awk -v a="$wall" -v b="$fwall" 'BEGIN {print a / b}')"
done
echo
echo "| databases (concurrency 16) | tursync extract | peak RSS |"
echo "|---|---|---|"
for glob in "db-00000*" "db-0000*" "*"; do
  config 16 "$glob"
  extract
  echo "| $ok | $wall s | $rss MiB |"
done

# The mirror on a libSQL server: a second sqld, the same tenants.
"$sqld" -d "$work/mirror-sqld" --http-listen-addr "127.0.0.1:18384" > "$work/sqld-mirror.log" 2>&1 &
for _ in $(seq 1 100); do curl -fsS -o /dev/null -X POST -d '{"requests":[{"type":"close"}]}' "http://127.0.0.1:18384/v2/pipeline" 2>/dev/null && break; sleep 0.1; done
mirror_url="http://127.0.0.1:18384"
config 16 "*"
BENCH_TOKEN=bench "$T" sync --config "$work/cfg.yaml" > /dev/null
walls=()
for _ in $(seq 1 "$reps"); do extract; walls+=("$wall"); done
echo
echo "mirror on sqld, concurrency 16: tursync extract $(printf '%s\n' "${walls[@]}" | median) s ($ok ok), peak RSS $rss MiB"
