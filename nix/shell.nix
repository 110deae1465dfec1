# `nix develop`: the toolchain and the tools the README and the Makefile use.
# Owns the developer environment only; builds happen in package.nix.
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
  go-wrk,
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
    wrk # load, C
    go-wrk # load, Go (the README's numbers); see go-wrk.nix
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
