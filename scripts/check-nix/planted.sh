#!/usr/bin/env bash
# The stub nixpkgs' own test: for each nixpkgs rule it models where the old
# stub was laxer than nixpkgs (issue 20), plant the mistake that rule exists
# to reject in a copy of the flake's tracked files, evaluate the copy as
# scripts/check-nix.sh does (eval.nix), and require a failure carrying
# nixpkgs' message. The unplanted copy must evaluate, and so must the one
# plant that real nixpkgs accepts (an image with `meta`), so a stub that
# rejects everything fails here too. Called by scripts/check-nix.sh with a
# scratch directory; needs nix-instantiate and git.
# Usage: bash scripts/check-nix/planted.sh SCRATCH_DIR
set -euo pipefail
cd "$(dirname "$0")/../.."
work=${1:?usage: planted.sh SCRATCH_DIR}
export NIX_CONFIG=$'build-users-group =\nexperimental-features = nix-command flakes'

rm -rf "$work"
mkdir -p "$work/tree"
git ls-files -z | xargs -0 cp --parents -t "$work/tree" 2>/dev/null || {
  # Tracked files deleted in the work tree are skipped, as Nix skips them.
  git ls-files -z | while IFS= read -r -d '' f; do [ -e "$f" ] && cp --parents "$f" "$work/tree"; done
}
git ls-files >"$work/tracked"
cp -r scripts/check-nix "$work/stub"

evaluate() { # -> stderr in $work/err, status
  timeout 120 nix-instantiate --eval --strict --json "$work/stub/eval.nix" --arg root "$work/tree" \
    --argstr trackedFile "$work/tracked" >/dev/null 2>"$work/err"
}

# Replace OLD by NEW in FILE (relative to the tree); OLD must occur once.
edit() {
  python3 - "$work/tree/$1" "$2" "$3" <<'PY'
import sys
path, old, new = sys.argv[1:]
text = open(path).read()
if text.count(old) != 1:
    sys.exit(f"planted.sh: '{old}' occurs {text.count(old)} times in {path}; update the plant")
open(path, "w").write(text.replace(old, new))
PY
}

evaluate || { cat "$work/err" >&2; echo "FAIL: the unplanted flake does not evaluate against the stub" >&2; exit 1; }
echo "ok  unplanted: evaluates"

failures=0
# plant NAME FILE OLD NEW EXPECTED-MESSAGE [SETUP]: the plant must fail with the message.
plant() {
  local name=$1 file=$2 old=$3 new=$4 want=$5 setup=${6:-}
  cp "$work/tree/$file" "$work/saved"
  edit "$file" "$old" "$new"
  [ -z "$setup" ] || eval "$setup"
  if evaluate; then
    echo "FAIL: $name: evaluates, but nixpkgs rejects it ($want)" >&2
    failures=$((failures + 1))
  elif grep -qF -- "$want" "$work/err"; then
    echo "ok  $name: rejected ($want)"
  else
    echo "FAIL: $name: rejected, but not with nixpkgs' message '$want':" >&2
    sed 's/^/    /' "$work/err" >&2
    failures=$((failures + 1))
  fi
  cp "$work/saved" "$work/tree/$file"
}

# 1. A git flake sees tracked files only: a file that exists in the work tree
#    but is not tracked does not exist for the fileset.
plant "untracked file in the fileset" nix/package.nix \
  '      ../rustfmt.toml' $'      ../rustfmt.toml\n      ../deploy/untracked.conf' \
  "is a path that does not exist" 'echo x >"$work/tree/deploy/untracked.conf"'
rm -f "$work/tree/deploy/untracked.conf"

# 2. fileFilter passes an extra attribute: a predicate without `...` fails.
plant "fileFilter predicate without ..." nix/package.nix \
  '(file: file.hasExt "rs")' '({ name, type, hasExt }: hasExt "rs")' \
  "must be able to handle extra attributes"

# 3. maybeMissing takes a path, never a string.
plant "maybeMissing given a string" nix/package.nix \
  'lib.fileset.maybeMissing ../benches/compare' 'lib.fileset.maybeMissing "${toString ../benches/compare}"' \
  "is a string-like value, but it should be a path instead"
plant "maybeMissing given a string naming no file" nix/package.nix \
  'lib.fileset.maybeMissing ../benches/compare' 'lib.fileset.maybeMissing "${toString ../benches}/none"' \
  "is a string-like value, but it should be a path instead"

# 4. buildLayeredImage's compressor is one of none, gz, zstd.
plant "buildLayeredImage compressor xz" nix/image.nix \
  '  name = "counter";' $'  name = "counter";\n  compressor = "xz";' \
  "compressor must be one of"

# 5. buildRustPackage moves RUSTFLAGS into env and drops cargoLock: an
#    override that reads them from the old attributes, or sets RUSTFLAGS
#    beside env, fails.
plant "overrideAttrs reads old.RUSTFLAGS" nix/checks.nix \
  '      nativeBuildInputs = old.nativeBuildInputs ++ tools;' \
  $'      nativeBuildInputs = old.nativeBuildInputs ++ tools;\n      env = old.env // { RUSTFLAGS = old.RUSTFLAGS + " -C debuginfo=0"; };' \
  "attribute 'RUSTFLAGS' missing"
plant "overrideAttrs reads old.cargoLock" nix/checks.nix \
  '      nativeBuildInputs = old.nativeBuildInputs ++ tools;' \
  $'      nativeBuildInputs = old.nativeBuildInputs ++ tools;\n      cargoLock = old.cargoLock;' \
  "attribute 'cargoLock' missing"
plant "overrideAttrs sets RUSTFLAGS beside env" nix/checks.nix \
  '      nativeBuildInputs = old.nativeBuildInputs ++ tools;' \
  $'      nativeBuildInputs = old.nativeBuildInputs ++ tools;\n      RUSTFLAGS = "-C debuginfo=0";' \
  "The following attributes are overlapping: RUSTFLAGS"

# What nixpkgs accepts must pass: streamLayeredImage takes `meta`.
edit nix/image.nix '  name = "counter";' $'  name = "counter";\n  meta.description = "counter image";'
if evaluate; then echo "ok  buildLayeredImage with meta: evaluates, as in nixpkgs"; else
  sed 's/^/    /' "$work/err" >&2
  echo "FAIL: buildLayeredImage with meta is rejected; nixpkgs' streamLayeredImage takes meta" >&2
  failures=$((failures + 1))
fi

rm -rf "$work"
[ "$failures" -eq 0 ] || { echo "FAIL: $failures planted mistake(s) not caught as nixpkgs would" >&2; exit 1; }
