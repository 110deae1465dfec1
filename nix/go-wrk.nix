# go-wrk, the Go HTTP load generator used in the README. nixpkgs 25.11 does
# not package it, so it is built here from a pinned commit.
#
# The commit exists upstream; the two hashes are the ones a public flake uses
# for this same commit. No machine with a Nix store has checked them for this
# repository yet. If `nix develop` reports a hash mismatch, put the "got:" hash
# in place of the one it names.
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
