#!/usr/bin/env bash
# Fuzzes the Redis link (src/redis/link.rs, replies.rs) under server::batches::Batches with arbitrary reply bytes
# over a loopback socket (target fuzz/fuzz_targets/link.rs): each request answered exactly once, a value only
# from its own batch's reply, no value twice. Usage: scripts/fuzz-link.sh [SECONDS]   (default 60).
# -close_fd_mask=2: the link logs every fault on stderr; libFuzzer keeps its own report on a duplicate of it
# (a failing input is saved in fuzz/artifacts/link/; run it again without the mask to see the panic).
set -euo pipefail
exec "$(dirname "$0")/fuzz.sh" link "${1:-60}" 1024 -dict=link.dict -close_fd_mask=2
