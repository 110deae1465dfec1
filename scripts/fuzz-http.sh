#!/usr/bin/env bash
# Fuzzes the hot-path request parser against httparse (fuzz/fuzz_targets/http_oracle.rs: src/http/scan.rs and the
# repeat cache in src/http/request.rs must give httparse's verdict on every input) for a bounded time.
# Usage: scripts/fuzz-http.sh [SECONDS]   (default 60). -max_len: a few pipelined heads of a few hundred bytes, and
# room to cross TARGET_BYTES_MAX (2 KiB) now and then.
set -euo pipefail
exec "$(dirname "$0")/fuzz.sh" http_oracle "${1:-60}" 4096 -dict=conn.dict
