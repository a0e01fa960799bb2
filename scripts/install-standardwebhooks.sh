#!/usr/bin/env bash
# Installs the Standard Webhooks reference library for JavaScript
# (standardwebhooks on npm, pinned), which the webhook tests' receiver uses
# to verify every delivery, into a cache directory, and prints the
# node_modules directory to put in NODE_PATH. npm checks each tarball
# against the integrity hash the registry publishes.
set -euo pipefail
VERSION=1.1.1
dir="${TURSYNC_CACHE:-$HOME/.cache/tursync}/standardwebhooks-$VERSION"
if [ -f "$dir/node_modules/standardwebhooks/package.json" ] &&
  grep -q "\"version\": \"$VERSION\"" "$dir/node_modules/standardwebhooks/package.json"; then
  echo "$dir/node_modules"; exit 0
fi
mkdir -p "$dir"
npm install --silent --no-audit --no-fund --prefix "$dir" "standardwebhooks@$VERSION" >/dev/null
echo "$dir/node_modules"
