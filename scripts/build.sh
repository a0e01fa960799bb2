#!/usr/bin/env bash
# Builds the static tursync binary: the flags the Dockerfile uses, so CI
# (where Docker cannot build) checks the same binary the image ships.
#   VERSION  version stamped into the binary (default: git describe, or dev)
#   COMMIT   commit stamped into the binary (default: git rev-parse HEAD)
#   OUT      output path (default: bin/tursync)
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
COMMIT=${COMMIT:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}
OUT=${OUT:-bin/tursync}
CGO_ENABLED=0 go build -trimpath \
  -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT} -X github.com/tursync/tursync/turso.Version=${VERSION}" \
  -o "$OUT" ./cmd/tursync
