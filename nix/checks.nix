# The gates `nix flake check` adds to the package build: formatting, clippy,
# the whole workspace's tests (loom, and the redis_* tests the package skips),
# and the image size budget. Owns no build flags: each cargo check reuses the
# package's vendored crates, toolchain and RUSTFLAGS and runs one command.
#
# flake.nix calls this file with callPackages, so each attribute below is a
# derivation of its own and the set gains no override functions (see there).
# Every cargo check reuses the package's src (its lib.fileset), so the files
# these commands read (rustfmt.toml for fmt) must be in that set;
# scripts/check-nix.sh runs fmt, build and the test targets in a copy of it.
{
  stdenv,
  runCommand,
  counter,
  image,
  clippy,
  rustfmt,
  redis,
  curl,
  util-linux,
  prometheus,
}:
let
  # With --target, RUSTFLAGS (+crt-static) reaches this workspace's crates
  # only, never build scripts or proc macros: the package build's split.
  cargoFlags = "--offline --release --workspace --target ${stdenv.hostPlatform.rust.rustcTarget}";

  cargoCheck =
    {
      name,
      tools,
      command,
    }:
    counter.overrideAttrs (old: {
      pname = "counter-${name}";
      nativeBuildInputs = old.nativeBuildInputs ++ tools;
      buildPhase = ''
        runHook preBuild
        ${command}
        runHook postBuild
      '';
      doCheck = false;
      installPhase = "touch $out";
      dontFixup = true;
    });

  # Issue 4's target for the gzipped image: under 2 MB.
  imageBytesMax = 2 * 1024 * 1024;
in
{
  fmt = cargoCheck {
    name = "fmt";
    tools = [ rustfmt ];
    command = "cargo fmt --all -- --check";
  };

  clippy = cargoCheck {
    name = "clippy";
    tools = [ clippy ];
    command = "cargo clippy ${cargoFlags} --all-targets -- -D warnings";
  };

  # The whole suite, loom and redis_* included. The redis_* tests start their
  # own redis-server on a free loopback port (the sandbox has loopback only);
  # curl, taskset and prlimit are real clients the tests drive; prometheus and
  # promtool (its cli output) scrape the binary and check rules and dashboard.
  test = cargoCheck {
    name = "test";
    tools = [
      redis
      curl
      util-linux
      prometheus
      prometheus.cli
    ];
    command = "cargo test ${cargoFlags}";
  };

  image-size = runCommand "counter-image-size" { } ''
    bytes=$(stat -c %s ${image})
    echo "${image.name}: $bytes bytes, budget ${toString imageBytesMax}"
    test "$bytes" -le ${toString imageBytesMax}
    touch $out
  '';
}
