# The counter binary, statically linked, and the tests that need no network.
# Owns the build flags and the binary's closure; not the image (image.nix) nor
# lint, loom and the Redis tests (checks.nix).
{
  lib,
  rustPlatform,
  glibc,
  curl,
  util-linux,
  removeReferencesTo,
}:
let
  cargoToml = lib.importTOML ../Cargo.toml;
  # benches/ holds the criterion benches beside records, scripts and
  # benches/compare, a workspace of its own (Cargo.toml excludes it).
  rustFilesIn = dir: lib.fileset.fileFilter (file: file.hasExt "rs") dir;
  benchSources = lib.fileset.difference (rustFilesIn ../benches) (
    lib.fileset.maybeMissing ../benches/compare
  );
in
rustPlatform.buildRustPackage {
  pname = cargoToml.package.name;
  inherit (cargoToml.package) version;

  # Only what cargo reads: an edit to the README, the Makefile, a benchmark
  # record, fuzz/ or benches/compare does not rebuild the package.
  src = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.unions [
      ../Cargo.toml
      ../Cargo.lock
      ../src
      ../tests
      # tests/ha starts Redis and Sentinels from the shipped config files.
      ../deploy/redis/redis.conf
      ../deploy/redis/sentinel.conf
      benchSources
      ../loom-tests
    ];
  };
  cargoLock.lockFile = ../Cargo.lock;

  # Static route: glibc with crt-static, not musl. pkgsStatic (musl) rebuilds
  # the Rust toolchain itself from source when the binary cache lacks it
  # (nixpkgs issue 207435); this route uses the cached rustc and is the same
  # build that scripts/check-image.sh runs and tests in CI, where
  # `RUSTFLAGS='-C target-feature=+crt-static' cargo build --release --target
  # x86_64-unknown-linux-gnu` gives a static-pie binary.
  #
  # How the flag reaches rustc: buildRustPackage moves RUSTFLAGS into the
  # environment, and its cargo hooks always pass `--target <rustcTarget>`. With
  # --target, cargo applies RUSTFLAGS to the target's crates only, never to
  # build scripts or proc macros, which stay dynamic as they must. RUSTFLAGS
  # also replaces the `target.<triple>.rustflags` (-crt-static) that
  # cargoSetupHook writes to .cargo/config.toml; cargo uses one source only.
  #
  # glibc.static (libc.a and friends) is given to that one static link as a
  # search path instead of through buildInputs: in buildInputs its libc.a sits
  # on every link's search path ahead of libc.so, dynamic build scripts
  # included (nixpkgs issue 59267).
  #
  # Name resolution without NSS modules: glibc 2.34 and later build the
  # `files` and `dns` NSS services into libc itself, so a static binary's
  # getaddrinfo (std's ToSocketAddrs) reads /etc/hosts and /etc/resolv.conf
  # and dlopens nothing. Kubernetes and Docker mount both files into every
  # container, so the image needs no /etc of its own. scripts/check-image.sh
  # tests it (Debian's glibc 2.36, an empty root, a Redis host name via DNS).
  RUSTFLAGS = "-C target-feature=+crt-static -L native=${glibc.static}/lib";

  # The same stripping as Cargo.toml's `strip = true`, which the cargo hook
  # turns off so that stdenv strips instead (it defaults to debug symbols only).
  stripAllList = [ "bin" ];

  # doCheck (on by default) runs `cargo test` in the package: unit and
  # integration tests over 127.0.0.1. Tests named redis_* need a Redis server
  # and run in checks.nix instead.
  nativeCheckInputs = [
    curl
    util-linux # taskset, prlimit
  ];
  checkFlags = [
    "--skip"
    "redis_"
  ];

  # The binary embeds glibc's compiled-in paths (gconv, locale, libdir for
  # dlopen), which would drag all of glibc into the closure and so into the
  # image. None is used by this program; rewrite them to dead paths. The ld
  # wrapper also adds `-rpath $out/lib` to every link unless told not to.
  nativeBuildInputs = [ removeReferencesTo ];
  NIX_NO_SELF_RPATH = true;
  postFixup = ''
    remove-references-to ${lib.concatMapStringsSep " " (o: "-t ${glibc.${o}}") glibc.outputs} \
      $out/bin/counter
  '';
  # The guarantee the image relies on: the closure is this binary, nothing else.
  allowedReferences = [ ];

  meta = {
    inherit (cargoToml.package) description;
    license = lib.licenses.mit;
    mainProgram = "counter";
    platforms = lib.platforms.linux;
  };
}
