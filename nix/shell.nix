# `nix develop`: the toolchain and the tools the README and the Makefile use.
# Owns the developer environment only; builds happen in package.nix.
#
# Every name below is a nixpkgs 25.11 top-level attribute (pkgs/top-level/
# all-packages.nix or pkgs/by-name/): cargo, rustc, clippy, rustfmt,
# rust-analyzer, curl, wrk, redis, kubectl, jq, gnumake; rustPlatform.rustLibSrc
# is the std source that rust-analyzer reads (pkgs/development/compilers/rust/
# make-rust-platform.nix). Nothing here has an unverified hash: go-wrk, the one
# package built from a pinned commit, is its own flake output instead.
{
  mkShell,
  rustPlatform,
  cargo,
  rustc,
  clippy,
  rustfmt,
  rust-analyzer,
  curl,
  wrk,
  redis,
  kubectl,
  prometheus,
  jq,
  gnumake,
}:
mkShell {
  packages = [
    cargo
    rustc
    clippy
    rustfmt
    rust-analyzer
    curl # drive the endpoints by hand
    wrk # load, C; go-wrk (the README's numbers) is `nix run .#go-wrk`, see go-wrk.nix
    redis # redis-server for the shared-counter mode and its tests
    kubectl # kubectl kustomize renders deploy/k8s/ (make render)
    prometheus # the real Prometheus of tests/it/prometheus.rs
    prometheus.cli # promtool: make check-rules
    jq
    gnumake
  ];

  # rust-analyzer finds the standard library's sources here.
  RUST_SRC_PATH = "${rustPlatform.rustLibSrc}";

  # The shell builds dynamic binaries (`make run`, `cargo test`). The static
  # release binary comes from `nix build`; glibc.static is deliberately not in
  # this shell, where it would sit on every link's search path (package.nix).
}
