# The counter binary, statically linked, and the tests that need no network.
# Owns the build flags and the binary's closure; not the image (image.nix) nor
# lint, loom and the Redis tests (checks.nix).
{
  lib,
  rustPlatform,
  glibc,
  curl,
  prometheus,
  util-linux,
  nukeReferences,
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

  # Only what cargo, rustfmt, clippy and the tests read: an edit to the README, the
  # Makefile, a benchmark record, fuzz/ or benches/compare does not rebuild
  # the package. checks.nix's fmt and clippy reuse this source, so rustfmt.toml
  # (max_width = 120) is part of it: without it `cargo fmt --check` formats at
  # the default 100 and fails. scripts/check-nix.sh copies exactly these files
  # and runs fmt, build and test in the copy, so a file that the build reads
  # but this set drops fails CI.
  #
  # lib.fileset (nixpkgs lib/fileset/default.nix): `unions` coerces each path
  # and fails on one that does not exist; `fileFilter pred dir` keeps the files
  # under dir for which pred { name, type, hasExt } holds; `maybeMissing`
  # gives the empty set for a missing path; `toSource { root, fileset }` copies
  # only the set's files, at their paths relative to root.
  src = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.unions [
      ../Cargo.toml
      ../Cargo.lock
      ../rustfmt.toml
      # The MSRV-aware resolver setting (it changes nothing in a --locked build,
      # but the build reads the config contributors use).
      ../.cargo/config.toml
      ../src
      ../tests
      # tests/ha starts Redis and Sentinels from the shipped config files.
      ../deploy/redis/redis.conf
      ../deploy/redis/sentinel.conf
      benchSources
      ../loom-tests
      # Read by tests/it/prometheus.rs: the rules a real Prometheus loads, the dashboard it checks.
      ../deploy/prometheus/rules.yaml
      ../deploy/grafana/counter.json
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
  # How the flag reaches rustc: buildRustPackage passes RUSTFLAGS on to
  # mkDerivation, so it is in the builder's environment, and its cargo hooks
  # always pass `--target <rustcTarget>` (pkgs/build-support/rust/hooks/
  # cargo-build-hook.sh, the `cargo build` line; cargo-check-hook.sh the same
  # for `cargo test`). The binary therefore lands in target/<rustcTarget>/release,
  # the releaseDir that cargoInstallHook copies from (build-rust-package/
  # default.nix, `releaseDir`; its default buildType is "release"). With
  # --target, cargo applies RUSTFLAGS to the target's crates only, never to
  # build scripts or proc macros, which stay dynamic as they must. RUSTFLAGS
  # also replaces the `target."<rustcTarget>".rustflags` that cargoSetupHook
  # writes to .cargo/config.toml (hooks/default.nix, cargoSetupHook's
  # cargoConfig: `-C target-feature=-crt-static` in older nixpkgs,
  # `-Cforce-frame-pointers=yes` in newer): cargo takes rustflags from the
  # first of CARGO_ENCODED_RUSTFLAGS, RUSTFLAGS, target.<triple>.rustflags,
  # build.rustflags and ignores the rest, so the config's -crt-static can never
  # win over this +crt-static.
  #
  # glibc.static (libc.a and friends) is given to that one static link as a
  # search path instead of through buildInputs: in buildInputs its libc.a sits
  # on every link's search path ahead of libc.so, dynamic build scripts
  # included (nixpkgs issue 59267). `static` is one of glibc's outputs: its
  # postInstall moves lib/*.a there (pkgs/development/libraries/glibc/
  # default.nix, about line 192, "Put libraries for static linking in a
  # separate output").
  #
  # Name resolution without NSS modules: glibc 2.34 and later build the
  # `files` and `dns` NSS services into libc itself, so a static binary's
  # getaddrinfo (std's ToSocketAddrs) reads /etc/hosts and /etc/resolv.conf
  # and dlopens nothing. Kubernetes and Docker mount both files into every
  # container, so the image needs no /etc of its own. scripts/check-image.sh
  # tests it (Debian's glibc 2.36, an empty root, a Redis host name via DNS).
  RUSTFLAGS = "-C target-feature=+crt-static -L native=${glibc.static}/lib";

  # buildRustPackage (nixpkgs 25.11, pkgs/build-support/rust/build-rust-package/
  # default.nix) moves RUSTFLAGS into env.RUSTFLAGS and merges this env over
  # it, so attributes added to a derivation's environment go here, never at
  # the top level beside env (mkDerivation rejects a name in both).
  #
  # RUST_MIN_STACK: nixpkgs 25.11's rustc 1.91.1 (LLVM 21) overflows its
  # 8 MiB stack in LLVM's ScalarEvolution (getRangeRef <-> createSCEV
  # recursion) during this crate's fat-LTO link: reproduced with rustup's
  # 1.91.1, which links with 16 MiB. 64 MiB gives 4x margin; it sizes rustc's
  # threads (virtual memory, touched only as used), changes no output byte
  # (the binaries built with 16 and 64 MiB are identical), and also reaches
  # the test binaries of the check phase, where it only enlarges their
  # threads' reserved stacks. .cargo/config.toml's [env] sets the same value
  # for every other cargo build; scripts/check-nix.sh checks the two agree and
  # builds with this env and nix/rustc-version's compiler.
  env.RUST_MIN_STACK = "67108864";

  # The same stripping as Cargo.toml's `strip = true`, which the cargo hook
  # turns off so that stdenv strips instead (it defaults to debug symbols only).
  stripAllList = [ "bin" ];

  # doCheck (on by default) runs `cargo test` in the package: unit and
  # integration tests over 127.0.0.1. The integration tests that start a Redis
  # server (tests/it/redis.rs, redis_link.rs, skip_ahead.rs, tls.rs, cluster.rs, failover.rs, the redis_*
  # tests of tests/it/metrics.rs and prometheus.rs, tests/zero_alloc_tls.rs, and
  # tests/ha's scenarios::redis_*, which also start Sentinels) run in checks.nix
  # instead. checkFlags go to every test binary after `--`
  # (cargo-check-hook.sh); libtest's --skip drops every test whose full path
  # CONTAINS the pattern, so each pattern names its module: a bare "redis_"
  # also skipped the pure unit test config::tests::redis_urls_and_passwords,
  # and a bare "redis::" would skip the RESP parser's redis::resp::tests::*.
  # scripts/check-nix.sh lists the real test names and checks that exactly
  # the Redis integration tests are skipped. tests/it/clock.rs's faketime_*
  # tests preload Debian's libfaketime, which the sandbox has not: skipped too.
  # tests/nemesis (the fault harness: root, network namespaces, libfaketime)
  # needs no skip: Cargo.toml gives it `test = false`, so `cargo test` never
  # builds it (check-nix.sh checks that too); `make nemesis` runs it in CI.
  # tests/it/prometheus.rs runs a real Prometheus and promtool (nixpkgs puts
  # promtool in prometheus's cli output).
  nativeCheckInputs = [
    curl
    util-linux # taskset, prlimit
    prometheus
    prometheus.cli
  ];
  checkFlags = [
    "--skip"
    "redis::redis_"
    "--skip"
    "redis_link::redis_"
    "--skip"
    "metrics::redis_"
    "--skip"
    "tls::redis_"
    "--skip"
    "cluster::redis_"
    "--skip"
    "failover::redis_"
    "--skip"
    "skip_ahead::redis_"
    "--skip"
    "redis_mode_allocations"
    "--skip"
    "prometheus::redis_"
    "--skip"
    "scenarios::redis_"
    "--skip"
    "clock::faketime_"
    "--skip"
    "disk::root_"
  ];

  # The static binary embeds glibc's compiled-in paths, and with nixpkgs'
  # glibc each one is a store path that would drag that package into the
  # closure, and so into the image (docs/nix.md lists them, as found in the
  # static binary built in CI):
  #   - glibc's own: libdir and gconv (lib/gconv), locale, getconf dirs;
  #   - libgcc: glibc is built with user-defined-trusted-dirs=${libgcc}/lib
  #     ("the path will be embedded in the resulting binary",
  #     pkgs/development/libraries/glibc/default.nix, about lines 96-115);
  #   - libidn2: common.nix points LIBIDN2_SONAME at the store path of
  #     libidn2.so.0, which getaddrinfo dlopens for AI_IDN lookups.
  # None is used by this program (no iconv, no locale; std's getaddrinfo never
  # sets AI_IDN; glibc dlopens libgcc_s only for pthread_cancel and
  # pthread_exit), so each is rewritten to a dead path.
  #
  # nuke-refs rather than remove-references-to -t for each: nuke-refs rewrites
  # every store path's hash (pkgs/build-support/nuke-references/nuke-refs.sh,
  # the perl line, about line 26), while -t needs the exact derivation behind
  # each path (remove-references-to.sh, the sed loop, about line 29), and the
  # libgcc and libidn2 that glibc was built with come from the stdenv
  # bootstrap, not necessarily pkgs.libidn2. Blanket nuking alone would make
  # allowedReferences below a formality, so the loop first names each store
  # path and fails on any outside the three expected packages: a new embedded
  # path (a crate pulling in another libc piece) stops this build with its
  # name, as it stops scripts/check-nix.sh first. Naming no glibc output here
  # also keeps glibc.debug (separateDebugInfo) and the other outputs out of
  # the build's inputs, which the old `glibc.outputs` loop downloaded for
  # nothing.
  #
  # The ld wrapper also adds `-rpath $out/lib` to every link unless told not
  # to (glibc's own default.nix sets NIX_NO_SELF_RPATH the same way).
  nativeBuildInputs = [ nukeReferences ];
  NIX_NO_SELF_RPATH = true;
  postFixup = ''
    for ref in $(grep -aoE "$NIX_STORE/[a-z0-9]{32}-[A-Za-z0-9+._?=-]+" $out/bin/counter | sort -u); do
      case "''${ref#"$NIX_STORE"/*-}" in
        glibc-* | *libgcc* | libidn2-*) echo "nuking $ref" ;;
        *)
          echo "unexpected store path $ref in bin/counter: see nix/package.nix and docs/nix.md" >&2
          exit 1
          ;;
      esac
    done
    nuke-refs $out/bin/counter
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
