# Evaluates flake.nix's outputs against ./stub-nixpkgs.nix and returns plain
# data for scripts/check-nix.sh (derivations would print as store paths).
# Asserts what `nix flake check` asserts at evaluation (Nix src/nix/flake.cc,
# checkDerivation: "flake attribute '...' is not a derivation"): every
# attribute of checks.<system>, packages.<system> and devShells.<system>, and
# formatter.<system>, is a derivation; apps.<system>.* are apps.
{
  root,
  # A file listing, one a line, the paths (relative to root) git tracks; a
  # git flake's source holds only those. null: every file under root.
  trackedFile ? null,
}:
let
  flake = import (root + "/flake.nix");
  tracked =
    if trackedFile == null then
      null
    else
      map (f: "${toString root}/${f}") (
        builtins.filter (l: builtins.isString l && l != "") (builtins.split "\n" (builtins.readFile trackedFile))
      );
  nixpkgs = import ./stub-nixpkgs.nix { inherit tracked; };
  out = flake.outputs {
    self = out;
    inherit nixpkgs;
  };
  cargo = builtins.fromTOML (builtins.readFile (root + "/Cargo.toml"));
  systems = builtins.attrNames nixpkgs.legacyPackages;
  inherit (nixpkgs.lib) isDerivation genAttrs;

  check = cond: msg: if cond then true else throw msg;

  # Every attribute a derivation, and each one's recorded arguments
  # evaluated in full, so a wrong argument anywhere fails here.
  allDerivations =
    output: system:
    let
      set = out.${output}.${system};
    in
    builtins.all (
      name:
      check (isDerivation set.${name}) "flake attribute '${output}.${system}.${name}' is not a derivation"
      && builtins.deepSeq [
        (set.${name}.args or null)
        (set.${name}.drvAttrs or null)
      ] true
    ) (builtins.attrNames set);

  facts =
    system:
    let
      pkg = out.packages.${system}.default;
      img = out.packages.${system}.image.args;
      pkgs = nixpkgs.legacyPackages.${system};
    in
    assert allDerivations "checks" system;
    assert allDerivations "packages" system;
    assert allDerivations "devShells" system;
    assert check (isDerivation out.formatter.${system}) "flake attribute 'formatter.${system}' is not a derivation";
    assert builtins.all (
      a:
      check (
        a.type == "app" && builtins.isString a.program
      ) "flake attribute 'apps.${system}' holds an app that is not { type = \"app\"; program = <string>; }"
    ) (builtins.attrValues out.apps.${system});
    {
      package = check (
        pkg.version == cargo.package.version && pkg.drvAttrs.allowedReferences == [ ]
      ) "package: version or allowedReferences wrong";
      image = check (
        img.name == "counter"
        && img.tag == cargo.package.version
        && img.config.User == "65534:65534"
        && img.config.Entrypoint == [ "${pkg}/bin/counter" ]
        && img.config.ExposedPorts ? "8080/tcp"
        && !(img ? created)
        && (img.contents or [ ]) == [ ]
      ) "image: name/tag/user/entrypoint/ports/created/contents wrong";
      checks = builtins.attrNames out.checks.${system};
      packages = builtins.attrNames out.packages.${system};
      shellPackages = map (p: p.name) out.devShells.${system}.default.args.packages;
      app = out.apps.${system}.default.program;
      formatter = out.formatter.${system}.name;
      # What the build runs and strips, for the source and reference checks.
      src = pkg.drvAttrs.src.files;
      # The derivation's environment as buildRustPackage leaves it
      # (RUSTFLAGS moved into env), and what its phases run.
      inherit (pkg.drvAttrs) env postFixup checkFlags;
      inherit (pkg.drvAttrs.env) RUSTFLAGS;
      # The store paths the stub's glibc embeds, for the reference simulation.
      store = {
        glibc = pkgs.glibc.outPath;
        libgcc = pkgs.glibc.libgcc.outPath;
        libidn2 = (nixpkgs.lib.getLib pkgs.libidn2).outPath;
      };
    };
in
genAttrs systems facts
