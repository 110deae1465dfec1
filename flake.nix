# Wiring only: each output is built by a file in nix/ that takes its inputs as
# explicit arguments. `nix build .#image`, `nix develop`, `nix flake check`.
{
  description = "counter: a tiny HTTP counter service, a static binary in a one-file image";

  # The only input; flake.lock pins one nixos-25.11 revision. A cached stable
  # channel is what lets package.nix's glibc static route use the binary cache.
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";

  outputs =
    { self, nixpkgs }:
    let
      # k3s on ARM boards is common, so aarch64-linux is first-class.
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forAllSystems =
        f: nixpkgs.lib.genAttrs systems (system: f system nixpkgs.legacyPackages.${system});
    in
    {
      packages = forAllSystems (
        _system: pkgs: rec {
          default = pkgs.callPackage ./nix/package.nix { };
          image = pkgs.callPackage ./nix/image.nix { counter = default; };
          # Its own output (`nix run .#go-wrk`), built by nothing else: its
          # vendorHash is unverified, and a wrong one must not break
          # `nix develop` or `nix flake check` (see go-wrk.nix).
          go-wrk = pkgs.callPackage ./nix/go-wrk.nix { };
        }
      );

      devShells = forAllSystems (
        _system: pkgs: {
          default = pkgs.callPackage ./nix/shell.nix { };
        }
      );

      # `nix flake check` is the full gate: the package (its build runs the
      # offline tests), the image, and what checks.nix adds. callPackages, not
      # callPackage: callPackage ends in makeOverridable, which adds
      # `override` and `overrideDerivation` (functions) to an attrset result
      # (nixpkgs lib/customisation.nix, makeOverridable, about line 182), and
      # `nix flake check` requires every checks.<system> attribute to be a
      # derivation. callPackagesWith maps makeOverridable over the attributes
      # instead (about line 350), so each one stays a derivation.
      checks = forAllSystems (
        system: pkgs:
        let
          inherit (self.packages.${system}) default image;
        in
        pkgs.callPackages ./nix/checks.nix {
          counter = default;
          inherit image;
        }
        // {
          package = default;
          inherit image;
        }
      );

      formatter = forAllSystems (_system: pkgs: pkgs.nixfmt-tree);

      apps = forAllSystems (
        system: _pkgs: {
          default = {
            type = "app";
            program = "${self.packages.${system}.default}/bin/counter";
            meta.description = "Run the counter server on 0.0.0.0:8080 (see --help)";
          };
        }
      );
    };
}
