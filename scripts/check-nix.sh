#!/usr/bin/env bash
# What CI can prove about the Nix files on a machine without a Nix store or a
# binary cache (nothing from nixpkgs can be fetched here):
#   1. every .nix file parses (nix-instantiate --parse, Debian's nix-bin);
#   2. no dead code (deadnix), and nixfmt formatting where nixfmt exists;
#   3. flake.lock is lock version 7 and pins every input by rev and narHash,
#      matching what flake.nix asks for;
#   4. `nix flake metadata` resolves the flake offline from the committed lock;
#   5. flake.nix's outputs evaluate against a stub nixpkgs that mirrors the
#      semantics that decide evaluation (scripts/check-nix/stub-nixpkgs.nix),
#      and every checks/packages/devShells attribute is a derivation, as
#      `nix flake check` requires;
#   6. the package's lib.fileset, materialised, passes what the Nix build and
#      checks.nix run, with the Nix build's compiler (nix/rustc-version,
#      installed with rustup if missing): no locked crate needs a newer rustc;
#      `cargo fmt --check`; the static fat-LTO release build with the
#      package's env (RUSTFLAGS, RUST_MIN_STACK); clippy -D warnings on the
#      workspace as checks.clippy runs it; the workspace tests built in release
#      and run with the package's checkFlags, as its check phase runs them;
#   7. the package's checkFlags skip exactly the Redis integration tests;
#   8. every absolute path the static binary embeds is in a known class, and
#      the package's postFixup, run on what those become with nixpkgs' glibc,
#      leaves no store path (allowedReferences = [ ]).
# What it cannot prove: that nixpkgs builds these derivations. That needs
# `nix build .#image` / `nix flake check` on a machine with Nix (docs/nix.md).
#
# Step 6 builds the copy in its own target directory (target/fileset-copy),
# never this tree's: binaries built from the copy bake the copy's paths
# (CARGO_MANIFEST_DIR) in, and a shared target directory let `make test` run
# them afterwards against a deleted temporary tree.
# Idempotent; installs only what is missing (nix-bin from Debian, deadnix from
# crates.io). Run as root on Debian: bash scripts/check-nix.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian's nix runs single-user here: no nixbld group, no daemon.
export NIX_CONFIG=$'build-users-group =\nexperimental-features = nix-command flakes'
DEADNIX_VERSION=1.3.1

step() { printf '\n== %s\n' "$*"; }
have() { command -v "$1" >/dev/null 2>&1; }

step "tools"
if ! have nix-instantiate; then
  timeout 600 apt-get update -qq
  DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq nix-bin >/dev/null
fi
export PATH="$HOME/.cargo/bin:$PATH"
if ! have deadnix; then
  timeout 900 cargo install --locked --quiet "deadnix@$DEADNIX_VERSION"
fi
nix --version
deadnix --version

# The Nix build's compiler: nixpkgs 25.11's rustc, pinned in nix/rustc-version
# (first line), which also names its source. Everything cargo below runs with
# it, never with the machine's default toolchain.
RUSTC_VERSION=$(head -n1 nix/rustc-version)
[[ "$RUSTC_VERSION" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "FAIL: nix/rustc-version's first line '$RUSTC_VERSION' is not X.Y.Z" >&2; exit 1; }
if ! rustup run "$RUSTC_VERSION" rustc --version >/dev/null 2>&1 \
  || ! rustup component list --toolchain "$RUSTC_VERSION" --installed 2>/dev/null | grep -q '^clippy'; then
  timeout 900 rustup toolchain install "$RUSTC_VERSION" --profile minimal --component clippy,rustfmt
fi
export RUSTUP_TOOLCHAIN="$RUSTC_VERSION"
rustc --version
msrv=$(sed -n '/^\[workspace.package\]/,/^\[/s/^rust-version = "\(.*\)"$/\1/p' Cargo.toml)
[ "$msrv" = "${RUSTC_VERSION%.*}" ] || [ "$msrv" = "$RUSTC_VERSION" ] || {
  echo "FAIL: Cargo.toml's [workspace.package] rust-version is '$msrv', nix/rustc-version says $RUSTC_VERSION" >&2
  exit 1
}
echo "ok  rust-version $msrv matches the Nix build's rustc $RUSTC_VERSION"

mapfile -t nix_files < <(git ls-files --cached --others --exclude-standard -- '*.nix' 2>/dev/null \
  || find . -name '*.nix' -not -path './target/*')
[ "${#nix_files[@]}" -gt 0 ] || { echo "no .nix files found" >&2; exit 1; }

step "parse (${#nix_files[@]} files)"
for f in "${nix_files[@]}"; do
  timeout 30 nix-instantiate --parse "$f" >/dev/null
  echo "ok  $f"
done

step "lint: deadnix (unused bindings and arguments)"
timeout 60 deadnix --fail "${nix_files[@]}"
echo "ok  no dead code"

step "format: nixfmt (RFC 166, the flake's formatter)"
if have nixfmt; then
  timeout 60 nixfmt --check "${nix_files[@]}"
  echo "ok  formatted"
else
  # nixfmt is Haskell: it is on none of the registries this machine reaches
  # (crates.io, PyPI, npm, Debian 12). nixpkgs-fmt (crates.io) uses an older,
  # incompatible style, so it cannot stand in. `nix fmt` is the formatter.
  echo "SKIP nixfmt is not installable here; run 'nix fmt' where Nix is"
fi

step "flake.lock: version 7, every input pinned by rev + narHash"
flake_url=$(timeout 30 nix-instantiate --eval --strict --json -E '(import ./flake.nix).inputs.nixpkgs.url')
FLAKE_URL="$flake_url" python3 - <<'PY'
import json, os, re, sys

lock = json.load(open("flake.lock"))
url = json.loads(os.environ["FLAKE_URL"])  # e.g. github:NixOS/nixpkgs/nixos-25.11

def fail(msg):
    sys.exit(f"flake.lock: {msg}")

if lock.get("version") != 7:
    fail(f"version is {lock.get('version')!r}, expected 7")
nodes = lock["nodes"]
root = nodes[lock["root"]]
if set(root.get("inputs", {})) != {"nixpkgs"}:
    fail(f"root inputs are {sorted(root.get('inputs', {}))}, expected only nixpkgs")
for name, node in nodes.items():
    if name == lock["root"]:
        continue
    locked = node.get("locked", {})
    if not re.fullmatch(r"[0-9a-f]{40}", locked.get("rev", "")):
        fail(f"{name}: locked.rev missing or not a 40-hex commit")
    if not re.fullmatch(r"sha256-[A-Za-z0-9+/]{43}=", locked.get("narHash", "")):
        fail(f"{name}: locked.narHash missing or not an SRI sha256")
    if not isinstance(locked.get("lastModified"), int):
        fail(f"{name}: locked.lastModified missing")
    print(f"ok  {name}: {locked['type']}:{locked['owner']}/{locked['repo']} "
          f"rev {locked['rev']} {locked['narHash']}")

orig = nodes["nixpkgs"]["original"]
kind, path = url.split(":", 1)
owner, repo, ref = path.split("/")
want = {"type": kind, "owner": owner, "repo": repo, "ref": ref}
if orig != want:
    fail(f"nixpkgs original {orig} does not match flake.nix's {url}")
print(f"ok  original matches flake.nix ({url})")
PY

step "nix flake metadata, offline, from the committed lock"
# A copy holding only the flake's Nix files: `path:` flakes are copied to the
# store, and the work tree's target/ must not be.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp flake.nix flake.lock "$tmp/"
cp -r nix "$tmp/nix"
timeout 60 nix flake metadata --offline --no-update-lock-file --json "path:$tmp" >"$tmp/meta.json"
python3 - "$tmp/meta.json" <<'PY'
import json, sys
meta = json.load(open(sys.argv[1]))
lock = json.load(open("flake.lock"))
got = meta["locks"]["nodes"]["nixpkgs"]["locked"]
want = lock["nodes"]["nixpkgs"]["locked"]
if got != want:
    sys.exit(f"nix resolved nixpkgs to {got}, the lock says {want}")
print(f"ok  nix resolves nixpkgs to {got['rev']} without network")
PY

step "wiring: flake outputs against a stub nixpkgs, checked as nix flake check checks them"
# scripts/check-nix/stub-nixpkgs.nix mirrors the nixpkgs semantics that decide
# whether evaluation succeeds (callPackage's makeOverridable, callPackages,
# lib.fileset, buildLayeredImage's formals; each with its source) and stands
# in for the rest with named placeholders. eval.nix asserts what
# `nix flake check` asserts at evaluation: every checks/packages/devShells
# attribute and the formatter is a derivation.
# A git flake's source is the tracked files only (untracked and ignored ones
# do not exist for nix/*.nix); outside a git checkout, every file counts.
facts_json="$tmp/facts.json"
tracked_args=()
if git ls-files >"$tmp/tracked" 2>/dev/null && [ -s "$tmp/tracked" ]; then
  tracked_args=(--argstr trackedFile "$tmp/tracked")
fi
timeout 120 nix-instantiate --eval --strict --json scripts/check-nix/eval.nix --arg root ./. "${tracked_args[@]}" >"$facts_json"
python3 - "$facts_json" <<'PY'
import json, sys
for system, f in json.load(open(sys.argv[1])).items():
    shown = {k: f[k] for k in ("checks", "packages", "shellPackages", "formatter")}
    print(f"ok  {system}: every output attribute is a derivation; {json.dumps(shown)}")
PY

# The package's own facts, for the host's architecture (the binary built here).
system="$(uname -m)-linux"
target="$(uname -m)-unknown-linux-gnu"
python3 - "$facts_json" "$system" "$tmp/package.json" <<'PY'
import json, sys
facts = json.load(open(sys.argv[1]))[sys.argv[2]]
json.dump(facts, open(sys.argv[3], "w"))
PY

step "stub fidelity: each modelled nixpkgs rule rejects a planted mistake"
bash scripts/check-nix/planted.sh "$tmp/planted"

step "Cargo.lock: every locked crate builds with the Nix build's rustc $RUSTC_VERSION"
# The rust-version each locked crate declares, against nix/rustc-version: a
# crate that needs a newer compiler fails the Nix build (and `cargo +$RUSTC_VERSION
# ... --locked`); name it here, before any build.
cargo metadata --format-version 1 --locked >"$tmp/metadata.json"
python3 - "$tmp/metadata.json" "$RUSTC_VERSION" <<'PY'
import json, sys
meta, pinned = json.load(open(sys.argv[1])), sys.argv[2]
def key(v):
    return tuple(int(x) for x in (v.split(".") + ["0", "0"])[:3])
bad = sorted((p["name"], p["version"], p["rust_version"]) for p in meta["packages"]
             if p.get("rust_version") and key(p["rust_version"]) > key(pinned))
if bad:
    sys.exit("FAIL: Cargo.lock locks crates that need a newer rustc than the Nix build's " + pinned
             + " (nix/rustc-version):\n" + "\n".join(f"  {n} {v} requires rustc {r}" for n, v, r in bad)
             + "\n  Re-lock each with `cargo update -p NAME`: .cargo/config.toml's fallback resolver picks"
             + " the newest version that supports rust-version.")
print(f"ok  {len(meta['packages'])} packages, none needs a rustc newer than {pinned}")
PY

step "source: the package's fileset, materialised, built, linted and tested with rustc $RUSTC_VERSION"
# The stub's lib.fileset records which files toSource selects. Only those are
# copied (mtimes kept), and the copy runs what the Nix build and checks.nix
# run: a file the build reads but the fileset drops (rustfmt.toml, a build.rs,
# a test fixture) fails here. The copy builds in its own target directory
# (kept under target/, so reruns are incremental): sharing this tree's would
# let cargo reuse artefacts built from files the copy lacks, and would leave
# test binaries whose CARGO_MANIFEST_DIR is the deleted copy for `make test`.
src_copy="$tmp/src"
python3 - "$tmp/package.json" "$src_copy" <<'PY'
import json, os, shutil, subprocess, sys
facts = json.load(open(sys.argv[1]))
dest = sys.argv[2]
files = facts["src"]
for rel in files:
    os.makedirs(os.path.join(dest, os.path.dirname(rel)), exist_ok=True)
    shutil.copy2(rel, os.path.join(dest, rel))
# Files read by cargo, rustfmt or clippy from outside src/ and tests/: none
# shows up as a compile error when missing (rustfmt and clippy fall back to
# defaults), so each one tracked here must be in the set.
tracked = set(subprocess.run(["git", "ls-files"], capture_output=True, text=True, check=True).stdout.split())
config = {"rustfmt.toml", ".rustfmt.toml", "clippy.toml", ".clippy.toml", "build.rs",
          ".cargo/config.toml", ".cargo/config", "rust-toolchain", "rust-toolchain.toml"}
missing = sorted(f for f in tracked if (f in config or os.path.basename(f) in {"build.rs", "rustfmt.toml", "clippy.toml"})
                 and not f.startswith(("fuzz/", "benches/compare/")) and f not in files)
if missing:
    sys.exit(f"FAIL: nix/package.nix's fileset leaves out {', '.join(missing)}, which cargo/rustfmt/clippy read")
print(f"ok  fileset selects {len(files)} files, every tool config file among them")
PY
export CARGO_TARGET_DIR="$PWD/target/fileset-copy"
# The same RUSTFLAGS as the package, less the -L to nixpkgs' glibc.static.
rustflags=$(python3 -c 'import json,sys; f=json.load(open(sys.argv[1]))["RUSTFLAGS"].split(); print(" ".join(f[:f.index("-L")] if "-L" in f else f))' "$tmp/package.json")
[ "$rustflags" = "-C target-feature=+crt-static" ] || { echo "FAIL: package RUSTFLAGS is '$rustflags', check-image.sh builds with +crt-static" >&2; exit 1; }
# The package's env, as the Nix builder exports it (RUST_MIN_STACK: rustc
# 1.91.1's stack overflow in the fat-LTO link, see nix/package.nix); it must
# agree with .cargo/config.toml's [env], which every other cargo build reads.
min_stack=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["env"].get("RUST_MIN_STACK", ""))' "$tmp/package.json")
config_stack=$(python3 -c 'import tomllib; print(tomllib.load(open(".cargo/config.toml","rb")).get("env",{}).get("RUST_MIN_STACK",""))')
[ -n "$min_stack" ] && [ "$min_stack" = "$config_stack" ] || {
  echo "FAIL: RUST_MIN_STACK is '$min_stack' in nix/package.nix's env and '$config_stack' in .cargo/config.toml" >&2
  exit 1
}
export RUST_MIN_STACK="$min_stack"
checkflags=$(python3 -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1]))["checkFlags"]))' "$tmp/package.json")
(
  cd "$src_copy"
  export RUSTFLAGS="$rustflags"
  echo "-- $(rustc --version), RUST_MIN_STACK=$RUST_MIN_STACK, RUSTFLAGS='$RUSTFLAGS'"
  echo "-- cargo fmt --all -- --check (checks.fmt)"
  timeout 300 cargo fmt --all -- --check
  echo "-- cargo build --release --locked --target $target (the package build: static, fat LTO)"
  timeout 2400 cargo build --release --locked --target "$target"
  echo "-- cargo clippy --release --workspace --target $target --all-targets --locked -- -D warnings (checks.clippy)"
  timeout 2400 cargo clippy --release --workspace --target "$target" --all-targets --locked -- -D warnings
  echo "-- cargo test --release --workspace --target $target --no-run --locked (the package's and checks.test's test targets)"
  timeout 3600 cargo test --release --workspace --target "$target" --no-run --locked \
    --message-format=json-render-diagnostics >"$tmp/tests.json"
  # What the package's check phase runs (cargoCheckHook: cargo test, release,
  # --target, checkFlags after --), over the workspace so that loom-tests'
  # models run too: every test that needs no Redis server or libfaketime.
  # The skipped ones run in `make test` with the machine's toolchain.
  echo "-- cargo test --release --workspace --target $target --locked -- $checkflags (the package's check phase)"
  # shellcheck disable=SC2086 # checkFlags are words, as the hook passes them
  timeout 3600 cargo test --release --workspace --target "$target" --locked -- $checkflags
)
echo "ok  fmt, release build, clippy and tests from the fileset alone, with rustc $RUSTC_VERSION"

step "checkFlags: the package skips exactly the Redis and faketime integration tests"
# libtest's --skip drops every test whose full name contains the pattern.
# Lists the real test names of every test binary and applies the package's
# checkFlags the same way: skipped must be exactly the tests in tests/it and
# tests/zero_alloc_tls.rs and tests/ha whose name starts with redis_ (they
# start a redis-server, tests/ha Sentinels too; checks.test runs them).
python3 - "$tmp/package.json" "$tmp/tests.json" "$src_copy" <<'PY'
import json, subprocess, sys
flags = json.load(open(sys.argv[1]))["checkFlags"]
skips = [flags[i + 1] for i, f in enumerate(flags) if f == "--skip"]
others = [f for i, f in enumerate(flags) if f != "--skip" and (i == 0 or flags[i - 1] != "--skip")]
if others:
    sys.exit(f"FAIL: checkFlags {others}: only --skip is modelled here")
tests = []
for line in open(sys.argv[2]):
    msg = json.loads(line)
    if msg.get("reason") != "compiler-artifact" or not msg.get("executable") or not msg["profile"]["test"]:
        continue
    if "bench" in msg["target"]["kind"]:
        continue
    out = subprocess.run([msg["executable"], "--list", "--format", "terse"], cwd=sys.argv[3],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    tests += [(msg["target"]["name"], l[: -len(": test")]) for l in out.splitlines() if l.endswith(": test")]
skipped = {t for t in tests if any(s in t[1] for s in skips)}
wanted = {t for t in tests if t[0] in ("it", "zero_alloc_tls", "ha") and t[1].split("::")[-1].startswith("redis_")}
# tests/it/clock.rs's faketime_* tests preload Debian's libfaketime, which the sandbox has not.
wanted |= {t for t in tests if t[0] == "it" and t[1].startswith("clock::faketime_")}
# tests/durable/disk.rs's root_* tests mount a tmpfs and ext4 on a loop device: root, which the sandbox is not.
wanted |= {t for t in tests if t[0] == "durable" and t[1].startswith("disk::root_")}
if not wanted:
    sys.exit("FAIL: found no redis_* integration tests; has tests/it moved?")
for what, diff in (("skips a test that needs no Redis", skipped - wanted), ("runs a Redis test", wanted - skipped)):
    if diff:
        sys.exit(f"FAIL: checkFlags {skips} {what}: " + ", ".join(f"{b}: {n}" for b, n in sorted(diff)))
print(f"ok  {len(tests)} tests; checkFlags {skips} skip exactly the {len(wanted)} Redis and faketime integration tests")
# tests/nemesis (make nemesis: root, namespaces, faketime, minutes) is never built by `cargo test --workspace`,
# so the sandbox never runs it and no skip is needed: Cargo.toml gives it `test = false`.
if any(binary == "nemesis" for binary, _ in tests):
    sys.exit("FAIL: cargo test --workspace builds tests/nemesis; it needs `test = false` in Cargo.toml")
import tomllib
targets = {t["name"]: t for t in tomllib.load(open("Cargo.toml", "rb")).get("test", [])}
if targets.get("nemesis", {}).get("test", True) is not False:
    sys.exit("FAIL: Cargo.toml's [[test]] nemesis must say `test = false` (the sandbox cannot run it)")
print("ok  tests/nemesis is not a `cargo test --workspace` target (test = false): the sandbox never runs it")
PY

step "references: every path the static binary embeds is one the postFixup handles"
# The binary built above with Debian's glibc shows which compiled-in paths a
# static glibc binary carries. Each is put in a class; a class that is a store
# path with nixpkgs' glibc (glibc's own dirs, libgcc's lib/ from
# user-defined-trusted-dirs, libidn2 from LIBIDN2_SONAME) is written, as that
# store path, into a stand-in for $out/bin/counter, and the package's
# postFixup runs on it with nuke-refs and remove-references-to as nixpkgs
# defines them. Whatever store path is left would fail allowedReferences = [ ].
# A path in no class fails too: a new embedded path shows up here first.
# docs/nix.md lists the classes and the paths found.
sim="$tmp/sim"
mkdir -p "$sim/out/bin" "$sim/tools"
# pkgs/build-support/nuke-references/nuke-refs.sh: every store hash, except
# -e ones, becomes eeee...; pkgs/build-support/remove-references-to/
# remove-references-to.sh: the hash of each -t path becomes eeee....
cat >"$sim/tools/nuke-refs" <<'SH'
#!/usr/bin/env bash
set -e
excludes=""
while getopts e: o; do
  [ "$o" = e ] && excludes="$excludes(?!$(echo "$OPTARG" | sed -n 's|^/nix/store/\([a-z0-9]\{32\}\)-.*|\1|p'))"
done
shift $((OPTIND - 1))
for i in "$@"; do
  perl -pi -e "s|/nix/store/$excludes[a-z0-9]{32}-|/nix/store/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee-|g" "$i"
done
SH
cat >"$sim/tools/remove-references-to" <<'SH'
#!/usr/bin/env bash
set -e
targets=()
while getopts t: o; do
  [ "$o" = t ] && targets+=("$(echo "$OPTARG" | sed -n 's|^/nix/store/\([a-z0-9]\{32\}\)-.*|\1|p')")
done
shift $((OPTIND - 1))
for t in "${targets[@]}"; do sed -i -e "s|$t|eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee|g" "$@"; done
SH
chmod +x "$sim/tools/"*
python3 - "$tmp/package.json" "$CARGO_TARGET_DIR/$target/release/counter" "$sim/out/bin/counter" "$(uname -m)" <<'PY'
import json, os, re, sys
facts, binary, stand_in, arch = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3], sys.argv[4]
store = facts["store"]
triple = f"{arch}-linux-gnu"
cargo_home = os.environ.get("CARGO_HOME", os.path.expanduser("~/.cargo"))
# (prefix, class, what it is with nixpkgs' glibc: store paths, or None when it
# stays a path outside the store). First match wins, so specific ones first.
G, L, I = store["glibc"], store["libgcc"], store["libidn2"]
CLASSES = [
    ("/usr/lib/debug/", "Rust std: debug-info lookup by build id", None),
    (f"/usr/lib/{triple}/gconv", "glibc gconv modules (iconv)", [f"{G}/lib/gconv", f"{G}/lib/gconv/gconv-modules.cache"]),
    (f"/usr/lib/{triple}/", "glibc libdir: trusted dirs (+ libgcc via user-defined-trusted-dirs)", [f"{G}/lib/", f"{L}/lib/"]),
    (f"/lib/{triple}/", "glibc slibdir: trusted dirs (+ libgcc via user-defined-trusted-dirs)", [f"{G}/lib/", f"{L}/lib/"]),
    ("/usr/lib/getconf", "glibc getconf dir", [f"{G}/libexec/getconf"]),
    ("/usr/lib/locale", "glibc locale archive", [f"{G}/lib/locale/locale-archive"]),
    ("/usr/share/locale", "glibc message catalogues (textdomain)", [f"{G}/share/locale"]),
    ("/usr/lib", "glibc libdir, in pieces (a short path inlined as an immediate)", [f"{G}/lib"]),
    ("/lib", "glibc slibdir, in pieces", [f"{G}/lib"]),
    ("/etc/ld.so.cache", "ld.so cache (nixpkgs' dont-use-system-ld-so-cache.patch may point it into glibc's output)", [f"{G}/etc/ld.so.cache"]),
    ("/etc/", "system configuration read at run time (nixpkgs' glibc: --sysconfdir=/etc)", None),
    ("/proc", "kernel interface", None),
    ("/sys/", "kernel interface", None),
    ("/dev/", "kernel interface", None),
    ("/tmp", "temporary files", None),
    ("/var/tmp", "temporary files", None),
    ("/var/run/nscd/", "nscd socket (hard-coded in glibc)", None),
    ("/var/profile", "ld.so profiling output (hard-coded in glibc)", None),
    ("/bin/sh", "glibc's system()/popen() shell", None),
    ("/rustc/", "Rust std source paths (remapped by rustc)", None),
    (f"{cargo_home}/registry/src/", "crate sources (panic locations; in Nix the vendored copy under /build, cargoSetupHook copies with cp -L)", None),
]
SONAMES = {
    "libidn2.so.0": ("libidn2, dlopened by getaddrinfo (AI_IDN); nixpkgs' common.nix makes it a store path", [f"{I}/lib/libidn2.so.0"]),
    "libc.so.6": ("glibc soname, bare in nixpkgs too", None),
    "libnss_files.so.2": ("glibc NSS module soname, bare in nixpkgs too", None),
    "ld-linux-x86-64.so.2": ("dynamic loader soname, bare in nixpkgs too", None),
    "ld-linux-aarch64.so.1": ("dynamic loader soname, bare in nixpkgs too", None),
}
data = open(binary, "rb").read()
roots = "usr|lib|lib64|etc|var|nix|run|bin|sbin|opt|root|home|build|tmp|proc|sys|dev|rustc|gnu|srv|mnt"
paths = {m.decode() for m in re.findall(rb"(?<![A-Za-z0-9_.-])/(?:%s)(?:/[A-Za-z0-9_.,+@%%=-]*)*" % roots.encode(), data)}
paths |= {m.decode() for m in re.findall(rb"%s/[^\x00-\x20\x7f-\xff]+" % re.escape(cargo_home.encode()), data)}
sonames = {m.decode() for m in re.findall(rb"[A-Za-z0-9_+-]+\.so(?:\.[0-9]+)+", data)}
found, unknown, simulated = {}, [], []
for p in sorted(paths):
    hit = next((c for c in CLASSES if p.startswith(c[0])), None)
    if hit is None:
        unknown.append(p)
        continue
    found.setdefault(hit[1], []).append(p)
    simulated += hit[2] or []
for s in sorted(sonames):
    if s not in SONAMES:
        unknown.append(s)
        continue
    found.setdefault(SONAMES[s][0], []).append(s)
    simulated += SONAMES[s][1] or []
for cls, ps in found.items():
    shown = sorted({re.sub(r"^(/rustc/[0-9a-f]+|.*/registry/src/[^/]+/[^/]+)/.*", r"\1/...", p) for p in ps})
    print(f"    {cls}: {', '.join(shown)}")
if unknown:
    sys.exit("FAIL: the static binary embeds paths in no known class: " + ", ".join(unknown) +
             "\n  Find what each becomes with nixpkgs' glibc, make nix/package.nix's postFixup handle it,"
             " then add its class to scripts/check-nix.sh and docs/nix.md.")
with open(stand_in, "w") as f:
    f.write("\0".join(sorted(set(simulated))) + "\0")
print(f"ok  {len(paths)} paths and {len(sonames)} sonames, all classified; "
      f"{len(set(simulated))} become store paths with nixpkgs' glibc")
PY
python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["postFixup"])' "$tmp/package.json" >"$sim/postFixup.sh"
(cd "$sim" && out="$sim/out" NIX_STORE=/nix/store PATH="$sim/tools:$PATH" timeout 60 bash -e postFixup.sh)
left=$(grep -aoE '/nix/store/[a-z0-9]{32}-[A-Za-z0-9+._?=-]*' "$sim/out/bin/counter" | grep -v '/nix/store/e\{32\}-' | sort -u || true)
if [ -n "$left" ]; then
  echo "FAIL: after the package's postFixup, bin/counter still names these store paths, which" >&2
  echo "allowedReferences = [ ] rejects:" >&2
  echo "$left" >&2
  exit 1
fi
echo "ok  the postFixup leaves no store path: allowedReferences = [ ] holds"

step "all Nix checks passed"
