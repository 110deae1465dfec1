#!/usr/bin/env bash
# Fuzzes one connection's state machine (src/server/conn.rs through fuzz/fuzz_targets/conn.rs) for a bounded time:
# request bytes split at fuzz-chosen points, partial writes and WouldBlock at fuzz-chosen moments, epoll edges as
# Linux raises them. Usage: scripts/fuzz-conn.sh [SECONDS]   (default 60). Exits non-zero on a failing input, which
# is kept in fuzz/artifacts/conn/; the corpus grows in fuzz/corpus/conn/ (both git-ignored), seeded from the
# committed fuzz/seeds/conn/ (real clients' requests, smuggling attempts, pipelined batches).
# Run it longer for a deeper search, e.g. scripts/fuzz-conn.sh 3600; replay one input with
# `cd fuzz && cargo fuzz run --sanitizer none conn artifacts/conn/<file>`.
set -euo pipefail

seconds="${1:-60}"
root="$(cd "$(dirname "$0")/.." && pwd)"

# Install only what is missing (as scripts/fuzz-resp.sh): libfuzzer-sys compiles libFuzzer's C++ with the
# system compiler, and cargo-fuzz drives the build.
if ! command -v c++ >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq g++
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --version '^0.13' --locked
fi

# Sanitizer: none by default, on the stable toolchain. The connection code has no `unsafe`, so what ASan would
# catch surfaces as a bounds-check panic anyway, and the run is ~3x faster. FUZZ_SANITIZER=address brings ASan
# back; its -Zsanitizer flag needs nightly features, which RUSTC_BOOTSTRAP=1 grants the stable toolchain.
sanitizer="${FUZZ_SANITIZER:-none}"
bootstrap=()
if [ "$sanitizer" != none ]; then
    bootstrap=(env RUSTC_BOOTSTRAP=1)
fi

cd "$root/fuzz"
mkdir -p corpus/conn
# -max_len: a schedule plus a request section of up to 8 KiB, sent up to 64 times back to back (fuzz/fuzz_targets/
# conn.rs explains the layout), enough to reach backpressure and the input limit.
"${bootstrap[@]}" cargo fuzz run --sanitizer "$sanitizer" conn corpus/conn seeds/conn -- \
    -max_total_time="$seconds" -max_len=8192 -timeout=10 -dict=conn.dict -print_final_stats=1
