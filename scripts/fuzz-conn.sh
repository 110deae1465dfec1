#!/usr/bin/env bash
# Fuzzes one connection's state machine (src/server/conn.rs through fuzz/fuzz_targets/conn.rs) for a bounded time:
# request bytes split at fuzz-chosen points, partial writes and WouldBlock at fuzz-chosen moments, epoll edges as
# Linux raises them. Usage: scripts/fuzz-conn.sh [SECONDS]   (default 60); longer for a deeper search, e.g. 3600.
# Replay one input with `cd fuzz && cargo fuzz run --sanitizer none conn artifacts/conn/<file>`.
# -max_len: a schedule plus a request section of up to 8 KiB, sent up to 64 times back to back (fuzz/fuzz_targets/
# conn.rs explains the layout), enough to reach backpressure and the input limit.
set -euo pipefail
exec "$(dirname "$0")/fuzz.sh" conn "${1:-60}" 8192 -dict=conn.dict
