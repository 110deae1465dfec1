# go-wrk, the Go HTTP load generator used in the README: `nix run .#go-wrk --
# -c 64 -d 10 http://<node-ip>/status`. nixpkgs 25.11 does not package it, so it
# is built here from a pinned commit, as its own flake output that neither
# `nix develop` nor `nix flake check` builds: `nix flake check` only evaluates
# packages.* (a fixed-output hash is not checked at evaluation), so a wrong
# hash here breaks `nix run .#go-wrk` alone.
#
# The src hash was checked independently against the commit. The vendorHash
# is the one a public flake uses for this commit; no machine with a Nix store
# has verified it for this repository. To get or refresh it the first time:
# set `vendorHash = lib.fakeHash;` (add `lib` to the arguments), run
# `nix build .#go-wrk`, and put the "got: sha256-..." from the hash-mismatch
# error in its place (buildGoModule's goModules is a fixed-output derivation
# over `go mod vendor`; pkgs/build-support/go/module.nix).
{
  buildGoModule,
  fetchFromGitHub,
}:
buildGoModule {
  pname = "go-wrk";
  version = "0-unstable-095f3d7";

  src = fetchFromGitHub {
    owner = "tsliwowicz";
    repo = "go-wrk";
    rev = "095f3d71518ba13fcd5521ed6ee48baa9246b0dc";
    hash = "sha256-w3HKSz0iNE13focuUQHufCsoQek70tjxzdwK7fiH2BY=";
  };
  vendorHash = "sha256-rsT9CPLNQa+gTYySoGrVyV3f74huYKfjD+N6VOXzg8Q=";

  meta = {
    description = "HTTP benchmarking tool in the spirit of wrk";
    homepage = "https://github.com/tsliwowicz/go-wrk";
    mainProgram = "go-wrk";
  };
}
