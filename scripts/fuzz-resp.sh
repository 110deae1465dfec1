#!/usr/bin/env bash
# Fuzzes the RESP2 reply parser (src/redis/resp.rs, target fuzz/fuzz_targets/resp_parse.rs) for a bounded time.
# Usage: scripts/fuzz-resp.sh [SECONDS]   (default 30). Exits non-zero on a crash; the input is kept in
# fuzz/artifacts/resp_parse/, and the corpus grows in fuzz/corpus/resp_parse/ (both git-ignored).
set -euo pipefail

seconds="${1:-30}"
root="$(cd "$(dirname "$0")/.." && pwd)"

# Install only what is missing, so CI on a fresh machine and a developer's warm one run the same script.
# libfuzzer-sys compiles libFuzzer's C++ with the system compiler.
if ! command -v c++ >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq g++
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --version '^0.13' --locked
fi

# Sanitizer: none by default. resp.rs has no `unsafe`, so an out-of-bounds read is a bounds-check panic that
# libFuzzer reports anyway, and without ASan the run is ~3x faster and needs no nightly flag at all.
# FUZZ_SANITIZER=address brings ASan back; its -Zsanitizer flag needs nightly, which RUSTC_BOOTSTRAP=1 grants the
# stable toolchain (the only one this project's machines have).
sanitizer="${FUZZ_SANITIZER:-none}"
bootstrap=()
if [ "$sanitizer" != none ]; then
    bootstrap=(env RUSTC_BOOTSTRAP=1)
fi

cd "$root/fuzz"
mkdir -p corpus/resp_parse
"${bootstrap[@]}" cargo fuzz run --sanitizer "$sanitizer" resp_parse corpus/resp_parse seeds/resp_parse -- \
    -max_total_time="$seconds" -max_len=4096 -timeout=10 -dict=resp.dict -print_final_stats=1
