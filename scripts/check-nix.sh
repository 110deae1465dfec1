#!/usr/bin/env bash
# What CI can prove about the Nix files on a machine without a Nix store or a
# binary cache (nothing from nixpkgs can be fetched here):
#   1. every .nix file parses (nix-instantiate --parse, Debian's nix-bin);
#   2. no dead code (deadnix), and nixfmt formatting where nixfmt exists;
#   3. flake.lock is lock version 7 and pins every input by rev and narHash,
#      matching what flake.nix asks for;
#   4. `nix flake metadata` resolves the flake offline from the committed lock;
#   5. flake.nix's wiring evaluates against a stub nixpkgs: every nix/ file is
#      found, gets all its arguments, and the image/package facts hold.
# What it cannot prove: that nixpkgs builds these derivations. That needs
# `nix build .#image` / `nix flake check` on a machine with Nix (README "Deploy to k3s").
#
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

step "wiring: flake outputs against a stub nixpkgs"
# Not nixpkgs: each stub stands for an attribute checked by hand to exist in
# nixpkgs 25.11 (see README "Deploy to k3s"). This proves the wiring (files found,
# arguments supplied, fileset paths present, image facts), not the builds.
# shellcheck disable=SC2016 # a Nix expression: its ${...} are Nix's, not the shell's
facts=$(timeout 60 nix-instantiate --eval --strict --json -E '
let
  flake = import ./flake.nix;
  cargo = builtins.fromTOML (builtins.readFile ./Cargo.toml);
  drv = name: extra:
    { type = "derivation"; inherit name; outPath = "/nix/store/${name}"; outputs = [ "out" ]; } // extra;
  exists = p: if builtins.pathExists p then p else throw "fileset: ${toString p} does not exist";
  lib = {
    genAttrs = names: f: builtins.listToAttrs (map (n: { name = n; value = f n; }) names);
    importTOML = p: builtins.fromTOML (builtins.readFile p);
    concatMapStringsSep = sep: f: l: builtins.concatStringsSep sep (map f l);
    licenses.mit = "mit";
    platforms.linux = [ "x86_64-linux" "aarch64-linux" ];
    fileset = {
      unions = map exists;
      fileFilter = _pred: exists;
      difference = a: b: builtins.deepSeq b a;
      maybeMissing = p: p;
      toSource = { root, fileset }: builtins.deepSeq fileset root;
    };
  };
  pkgsFor = system: let
    pkgs = {
      inherit lib;
      stdenv.hostPlatform.rust.rustcTarget = "${builtins.head (builtins.split "-" system)}-unknown-linux-gnu";
      callPackage = fn: overrides: let f = import fn; in f (builtins.mapAttrs
        (n: _: overrides.${n} or pkgs.${n} or (throw "stub nixpkgs lacks ${n}, asked for by ${toString fn}"))
        (builtins.functionArgs f));
      glibc = drv "glibc" { outputs = [ "out" "bin" "dev" "static" ]; out = drv "glibc" { }; bin = drv "glibc-bin" { };
        dev = drv "glibc-dev" { }; static = drv "glibc-static" { }; };
      prometheus = drv "prometheus" { outputs = [ "out" "doc" "cli" ]; cli = drv "prometheus-cli" { }; };
      rustPlatform = {
        rustLibSrc = drv "rust-lib-src" { };
        buildRustPackage = args: builtins.deepSeq [ args.src args.RUSTFLAGS args.postFixup (exists args.cargoLock.lockFile) ]
          (drv "${args.pname}-${args.version}" {
            inherit args; inherit (args) version;
            overrideAttrs = g: drv "check" { args = args // g (args // { nativeBuildInputs = [ ]; }); };
          });
      };
      dockerTools.buildLayeredImage = args: drv "${args.name}.tar.gz" { inherit args; };
      mkShell = args: drv "shell" { inherit args; };
      buildGoModule = args: drv "${args.pname}-${args.version}" { inherit args; };
      fetchFromGitHub = args: drv "source" { inherit args; };
      runCommand = name: _env: script: builtins.seq script (drv name { });
    } // builtins.listToAttrs (map (n: { name = n; value = drv n { }; }) [
      "cargo" "rustc" "clippy" "rustfmt" "rust-analyzer" "curl" "wrk" "redis" "kubectl"
      "jq" "gnumake" "removeReferencesTo" "nixfmt-tree" "util-linux"
    ]);
  in pkgs;
  nixpkgs = { inherit lib; legacyPackages = lib.genAttrs [ "x86_64-linux" "aarch64-linux" ] pkgsFor; };
  out = flake.outputs { self = out; inherit nixpkgs; };
  check = cond: msg: if cond then true else throw msg;
  facts = system: let
    pkg = out.packages.${system}.default;
    img = out.packages.${system}.image.args;
  in builtins.deepSeq [ out.devShells.${system}.default.args out.checks.${system}.test.args
    out.checks.${system}.image-size ] {
    package = check (pkg.version == cargo.package.version && pkg.args.allowedReferences == [ ])
      "package: version or allowedReferences wrong";
    image = check (img.name == "counter" && img.tag == cargo.package.version
        && img.config.User == "65534:65534" && img.config.Entrypoint == [ "${pkg}/bin/counter" ]
        && img.config.ExposedPorts ? "8080/tcp" && !(img ? created) && (img.contents or [ ]) == [ ])
      "image: name/tag/user/entrypoint/ports/created/contents wrong";
    checks = builtins.attrNames out.checks.${system};
    app = out.apps.${system}.default.program;
    formatter = out.formatter.${system}.name;
  };
in lib.genAttrs [ "x86_64-linux" "aarch64-linux" ] facts
')
python3 -c 'import json,sys; [print(f"ok  {s}: {json.dumps(v)}") for s,v in json.loads(sys.argv[1]).items()]' "$facts"

step "all Nix checks passed"
