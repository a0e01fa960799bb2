#!/usr/bin/env bash
# Installs DuckDB's Node.js client (@duckdb/node-api on npm, pinned; its
# native library comes as the platform's @duckdb/node-bindings package),
# which the Parquet export tests read the files with, into a cache
# directory, and prints the node_modules directory to put in NODE_PATH.
# npm checks each tarball against the integrity hash the registry
# publishes.
set -euo pipefail
VERSION=1.5.6-r.1
dir="${TURSYNC_CACHE:-$HOME/.cache/tursync}/duckdb-$VERSION"
if [ -f "$dir/node_modules/@duckdb/node-api/package.json" ] &&
  grep -q "\"version\": \"$VERSION\"" "$dir/node_modules/@duckdb/node-api/package.json"; then
  echo "$dir/node_modules"; exit 0
fi
mkdir -p "$dir"
npm install --silent --no-audit --no-fund --prefix "$dir" "@duckdb/node-api@$VERSION" >/dev/null
echo "$dir/node_modules"
