#!/usr/bin/env bash
# Runs one cargo-fuzz target of fuzz/ for a bounded time; scripts/fuzz-conn.sh and scripts/fuzz-resp.sh call it.
# Usage: scripts/fuzz.sh TARGET SECONDS MAX_LEN [libFuzzer options...]. Exits non-zero on a failing input, which is
# kept in fuzz/artifacts/TARGET/; the corpus grows in fuzz/corpus/TARGET/ (git-ignored), seeded from the committed
# fuzz/seeds/TARGET/ and fuzz/TARGET's dictionary when one exists.
set -euo pipefail

target="$1" seconds="$2" max_len="$3"
shift 3
root="$(cd "$(dirname "$0")/.." && pwd)"

# Install only what is missing, so CI on a fresh machine and a developer's warm one run the same script.
# libfuzzer-sys compiles libFuzzer's C++ with the system compiler; cargo-fuzz drives the build.
if ! command -v c++ >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq g++
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --version '^0.13' --locked
fi

# Sanitizer: none by default, on the stable toolchain. The fuzzed code has no `unsafe`, so what ASan would catch
# surfaces as a bounds-check panic anyway, and the run is ~3x faster. FUZZ_SANITIZER=address brings ASan back; its
# -Zsanitizer flag needs nightly features, which RUSTC_BOOTSTRAP=1 grants the stable toolchain (the only one here).
sanitizer="${FUZZ_SANITIZER:-none}"
bootstrap=()
if [ "$sanitizer" != none ]; then
    bootstrap=(env RUSTC_BOOTSTRAP=1)
fi

cd "$root/fuzz"
mkdir -p "corpus/$target"
"${bootstrap[@]}" cargo fuzz run --sanitizer "$sanitizer" "$target" "corpus/$target" "seeds/$target" -- \
    -max_total_time="$seconds" -max_len="$max_len" -timeout=10 -print_final_stats=1 "$@"
