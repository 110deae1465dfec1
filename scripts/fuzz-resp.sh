#!/usr/bin/env bash
# Fuzzes the RESP2 reply parser (src/redis/resp.rs, target fuzz/fuzz_targets/resp_parse.rs) for a bounded time.
# Usage: scripts/fuzz-resp.sh [SECONDS]   (default 30).
set -euo pipefail
exec "$(dirname "$0")/fuzz.sh" resp_parse "${1:-30}" 4096 -dict=resp.dict
