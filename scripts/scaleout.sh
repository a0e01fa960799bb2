#!/usr/bin/env bash
# The scale-out run: one sqld, `tursync simulate --fleet 12` in-process,
# three `tursync run` daemons sharing the mirror for TURSYNC_SCALEOUT_SECONDS
# (default 120), one SIGKILLed, one SIGSTOPped past its lease; see
# TestScaleOut in cmd/tursync/scaleout_test.go for what it checks.
set -euo pipefail
cd "$(dirname "$0")/.."
TURSYNC_SQLD=${TURSYNC_SQLD:-$(./scripts/install-sqld.sh)}
export TURSYNC_SQLD TURSYNC_SCALEOUT=1
exec go test -count=1 -timeout 15m -run '^TestScaleOut$' -v ./cmd/tursync
