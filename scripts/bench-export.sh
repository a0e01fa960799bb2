#!/usr/bin/env bash
# What an export costs (docs/PERFORMANCE.md, "Exports"): the large org
# (BENCH_EXPORT_DATABASES databases, default 250,000) synced into a mirror
# file from `tursync simulate`,
# then exported to a real PostgreSQL (started here on loopback, as the
# postgres user when root) and to Parquet files:
#   - the first run (a whole copy of every table) beside the floor
#     (tursync-bench exportfloor: one pgx COPY per table into a copy of the
#     export's tables; one parquet-go file per table, every column text);
#   - a run after an unchanged pass (nothing to copy);
#   - a --full run to PostgreSQL, whose tables hold rows: staged, then
#     swapped in (beside the same floor);
#   - a run after a pass that changed 1% of the databases.
# Peak RSS of each command from /usr/bin/time. Needs PostgreSQL (Debian's
# postgresql), /usr/bin/time and curl. Takes about 6 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
chmod 755 "$work"
pgbin=$(dirname "$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -1)")
[ -x "$pgbin/initdb" ] || pgbin=$(dirname "$(command -v initdb)")
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() {
  kill $(jobs -p) 2>/dev/null || true
  [ -n "${pgpid:-}" ] && as_pg "$pgbin/pg_ctl" -D "$work/pg/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
go build -o "$work/tursync" ./cmd/tursync
go build -o "$work/tursync-bench" ./cmd/tursync-bench
T="$work/tursync"; B="$work/tursync-bench"
port=18481; pgport=18482

mkdir -p "$work/pg"
[ "$(id -u)" = 0 ] && chown postgres "$work/pg"
as_pg "$pgbin/initdb" -D "$work/pg/data" -A trust -U tursync --no-sync -E UTF8 >/dev/null
as_pg "$pgbin/postgres" -D "$work/pg/data" -c listen_addresses=127.0.0.1 -p $pgport -k "$work/pg" \
  -c fsync=off -c synchronous_commit=off -c full_page_writes=off > "$work/pg.log" 2>&1 &
pgpid=$!
pgurl="postgres://tursync@127.0.0.1:$pgport/postgres?sslmode=disable"
for _ in $(seq 1 150); do grep -q "ready to accept connections" "$work/pg.log" && break; sleep 0.2; done

"$T" simulate --listen "127.0.0.1:$port" --scale large --databases "${BENCH_EXPORT_DATABASES:-250000}" --token bench > "$work/sim.log" 2>&1 &
for _ in $(seq 1 600); do curl -fsS "http://127.0.0.1:$port/_simulator/stats" >/dev/null 2>&1 && break; sleep 0.1; done
mkdir -p "$work/lake" "$work/floor"
cat > "$work/cfg.yaml" <<YAML
mirror: {url: "file:$work/m.db"}
api: {base_url: "http://127.0.0.1:$port", requests_per_second: 1000}
log: {level: warn}
accounts:
  - id: big
    token_env: BIG_TOKEN
exports:
  - {id: wh, to: "$pgurl"}
  - {id: lake, to: "parquet:$work/lake"}
YAML
timed() { # command...; sets wall, rss, rows
  BIG_TOKEN=bench /usr/bin/time -v "$@" > "$work/out" 2> "$work/time" || { cat "$work/out" "$work/time" >&2; exit 1; }
  wall=$(awk -F': ' '/Elapsed/ {split($2, a, ":"); printf "%.2f", a[1]*60 + a[2]}' "$work/time")
  rss=$(awk '/Maximum resident/ {printf "%.0f", $6/1024}' "$work/time")
  rows=$(grep -o 'wrote [0-9]* rows' "$work/out" | awk '{s += $2} END {print s + 0}')
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }

BIG_TOKEN=bench "$T" sync --config "$work/cfg.yaml" > /dev/null
echo "machine: $(nproc) cores, $(go version | cut -d' ' -f3); mirror $(du -m "$work/m.db" | cut -f1) MiB"
echo
echo "| case | wall | rows | peak RSS | floor | vs floor |"
echo "|---|---|---|---|---|---|"
timed "$T" export --config "$work/cfg.yaml" --export wh; pgfirst=$wall
pgrows=$rows; pgrss=$rss
BIG_TOKEN=bench "$B" exportfloor --db "$work/m.db" --pg "$pgurl" > "$work/floor.json"
pgfloor=$(sed 's/.*"wall_seconds":\([0-9.]*\).*/\1/' "$work/floor.json")
printf '| PostgreSQL, first run (whole copy) | %s s | %s | %s MiB | %.2f s | %s |\n' "$pgfirst" "$pgrows" "$pgrss" "$pgfloor" "$(ratio "$pgfirst" "$pgfloor")"
timed "$T" export --config "$work/cfg.yaml" --export lake; pqfirst=$wall
pqrows=$rows; pqrss=$rss
"$B" exportfloor --db "$work/m.db" --parquet "$work/floor" > "$work/floor.json"
pqfloor=$(sed 's/.*"wall_seconds":\([0-9.]*\).*/\1/' "$work/floor.json")
printf '| Parquet, first run (whole copy) | %s s | %s | %s MiB | %.2f s | %s |\n' "$pqfirst" "$pqrows" "$pqrss" "$pqfloor" "$(ratio "$pqfirst" "$pqfloor")"

BIG_TOKEN=bench "$T" sync --config "$work/cfg.yaml" > /dev/null
timed "$T" export --config "$work/cfg.yaml" --export wh
printf '| PostgreSQL, after an unchanged pass | %s s | %s | %s MiB | - | - |\n' "$wall" "$rows" "$rss"
timed "$T" export --config "$work/cfg.yaml" --export lake
printf '| Parquet, after an unchanged pass | %s s | %s | %s MiB | - | - |\n' "$wall" "$rows" "$rss"

timed "$T" export --config "$work/cfg.yaml" --export wh --full
printf '| PostgreSQL, --full (staged, swapped in) | %s s | %s | %s MiB | %.2f s | %s |\n' "$wall" "$rows" "$rss" "$pgfloor" "$(ratio "$wall" "$pgfloor")"

curl -fsS -X POST "http://127.0.0.1:$port/_simulator/churn?fraction=0.01" >/dev/null
BIG_TOKEN=bench "$T" sync --config "$work/cfg.yaml" > /dev/null
timed "$T" export --config "$work/cfg.yaml" --export wh
printf '| PostgreSQL, after 1%% churn | %s s | %s | %s MiB | - | - |\n' "$wall" "$rows" "$rss"
timed "$T" export --config "$work/cfg.yaml" --export lake
printf '| Parquet, after 1%% churn | %s s | %s | %s MiB | - | - |\n' "$wall" "$rows" "$rss"
echo
echo "Parquet files: $(du -sm "$work/lake" | cut -f1) MiB (floor: $(du -sm "$work/floor" | cut -f1) MiB)"
