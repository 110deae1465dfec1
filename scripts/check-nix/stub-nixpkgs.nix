# A stub nixpkgs for scripts/check-nix.sh: enough of nixpkgs for flake.nix and
# nix/*.nix to evaluate where no nixpkgs can be fetched. Where the real
# semantics decide whether `nix flake check` or `nix build` succeeds, the stub
# mirrors them, with the source it follows (nixpkgs, as read for issue 12;
# line numbers are approximate across revisions):
#   - lib.makeOverridable, callPackageWith, callPackagesWith:
#     lib/customisation.nix (about lines 154, 258 and 350);
#   - lib.fileset: lib/fileset/default.nix and internal.nix (path coercion,
#     unions, fileFilter, difference, maybeMissing, toSource), recording the
#     files a set selects so that the check can copy exactly those;
#   - dockerTools.buildLayeredImage / streamLayeredImage's argument sets:
#     pkgs/build-support/docker/default.nix;
#   - glibc's outputs and passthru.libgcc: pkgs/development/libraries/glibc/
#     common.nix (outputs) and default.nix (separateDebugInfo, about line 209;
#     passthru.libgcc, about line 211).
# Everything else is a named placeholder derivation: it proves that the name
# is asked for and supplied, not that nixpkgs builds it.
let
  systems = [
    "x86_64-linux"
    "aarch64-linux"
  ];

  inherit (builtins)
    attrNames
    concatMap
    filter
    functionArgs
    head
    intersectAttrs
    isAttrs
    isPath
    listToAttrs
    mapAttrs
    pathExists
    readDir
    removeAttrs
    substring
    ;

  # A placeholder derivation. `type = "derivation"` is what Nix's
  # getDerivation looks for, so `nix flake check`'s checkDerivation accepts
  # it; the store path is shaped like a real one (32-character hash, name).
  drv =
    name: extra:
    {
      type = "derivation";
      inherit name;
      outPath = "/nix/store/${substring 0 32 (builtins.hashString "sha256" name)}-${name}";
      drvPath = "/nix/store/${substring 0 32 (builtins.hashString "sha1" name)}-${name}.drv";
      outputs = [ "out" ];
    }
    // extra;

  # lib/trivial.nix: isFunction, functionArgs, setFunctionArgs,
  # mirrorFunctionArgs (functors count as functions).
  isFunction = f: builtins.isFunction f || (f ? __functor && isFunction (f.__functor f));
  fargsOf = f: f.__functionArgs or (functionArgs f);
  setFunctionArgs = f: args: {
    __functor = _: f;
    __functionArgs = args;
  };
  mirrorFunctionArgs = f: g: setFunctionArgs g (fargsOf f);
  isDerivation = v: isAttrs v && (v.type or null) == "derivation";

  # lib/customisation.nix makeOverridable: an attrset result gains
  # `override` and `overrideDerivation` (and `overrideAttrs` re-wrapped when
  # the result has one); a function result becomes a functor with
  # `override`. Those added attributes are functions, which is why an
  # attrset of checks built with callPackage is not an attrset of
  # derivations.
  makeOverridable =
    f:
    let
      mirrorArgs = mirrorFunctionArgs f;
    in
    mirrorArgs (
      origArgs:
      let
        result = f origArgs;
        overrideWith = newArgs: origArgs // (if isFunction newArgs then newArgs origArgs else newArgs);
        overrideArgs = mirrorArgs (newArgs: makeOverridable f (overrideWith newArgs));
        overrideResult = g: makeOverridable (mirrorArgs (args: g (f args))) origArgs;
      in
      if isAttrs result then
        result
        // {
          override = overrideArgs;
          overrideDerivation = _fdrv: overrideResult (_: throw "stub nixpkgs: overrideDerivation is not modelled");
          ${if result ? overrideAttrs then "overrideAttrs" else null} =
            fdrv: overrideResult (x: x.overrideAttrs fdrv);
        }
      else if isFunction result then
        setFunctionArgs result (fargsOf result) // { override = overrideArgs; }
      else
        result
    );

  # lib/customisation.nix callPackageWith: explicit args win over autoArgs,
  # args the function does not name are still passed (so a misspelt one fails
  # like in nixpkgs), and a missing required one aborts.
  callPackageWith =
    autoArgs: fn: args:
    let
      f = if isFunction fn then fn else import fn;
      fargs = fargsOf f;
      allArgs = intersectAttrs fargs autoArgs // args;
      missing = filter (n: !fargs.${n}) (attrNames (removeAttrs fargs (attrNames allArgs)));
    in
    if missing == [ ] then
      makeOverridable f allArgs
    else
      abort "lib.customisation.callPackageWith: Function called without required argument \"${head missing}\" (${toString fn}; the stub nixpkgs lacks it)";

  # lib/customisation.nix callPackagesWith: makeOverridable per attribute, so
  # the set itself gains nothing and each attribute stays what f made it.
  callPackagesWith =
    autoArgs: fn: args:
    let
      f = if isFunction fn then fn else import fn;
      auto = intersectAttrs (fargsOf f) autoArgs;
      mirrorArgs = mirrorFunctionArgs f;
      origArgs = auto // args;
      pkgs = f origArgs;
      mkAttrOverridable = name: _: makeOverridable (mirrorArgs (newArgs: (f newArgs).${name})) origArgs;
    in
    if isDerivation pkgs then
      throw "function `callPackages` was called on a *single* derivation \"${pkgs.name}\"; did you mean to use `callPackage` instead?"
    else
      mapAttrs mkAttrOverridable pkgs;

  # lib.fileset, recording files. A file set here is
  # { _type = "fileset"; files = [ { path; type; } ]; }, every file under the
  # sets' paths, recursively, like nixpkgs' coercion of a directory path
  # ("all files in directory"). Error texts follow lib/fileset/internal.nix.
  entryType = p: (readDir (dirOf p)).${baseNameOf p};
  walk =
    p: type:
    if type == "directory" then
      concatMap (n: walk (p + "/${n}") (readDir p).${n}) (attrNames (readDir p))
    else
      [
        {
          path = toString p;
          inherit type;
        }
      ];
  coerce =
    context: value:
    if (value._type or null) == "fileset" then
      value
    else if !isPath value then
      throw "lib.fileset.${context} is of type ${builtins.typeOf value}, but it should be a file set or a path instead."
    else if !pathExists value then
      throw "lib.fileset.${context} (${toString value}) is a path that does not exist. To create a file set from a path that may not exist, use `lib.fileset.maybeMissing`."
    else
      {
        _type = "fileset";
        files = walk value (entryType value);
      };
  fileset = {
    unions =
      list:
      let
        sets = builtins.genList (i: coerce "unions: Element ${toString i}" (builtins.elemAt list i)) (
          builtins.length list
        );
      in
      {
        _type = "fileset";
        files = concatMap (s: s.files) sets;
      };
    fileFilter =
      predicate: path:
      if !isPath path then
        throw "lib.fileset.fileFilter: Second argument is of type ${builtins.typeOf path}, but it should be a path instead."
      else
        {
          _type = "fileset";
          files = filter (
            file:
            let
              name = baseNameOf file.path;
            in
            predicate {
              inherit name;
              inherit (file) type;
              hasExt = ext: lib.hasSuffix ".${ext}" name;
            }
          ) (coerce "fileFilter: Second argument" path).files;
        };
    difference =
      positive: negative:
      let
        drop = map (f: f.path) (coerce "difference: Second argument (negative set)" negative).files;
      in
      {
        _type = "fileset";
        files = filter (f: !builtins.elem f.path drop) (coerce "difference: First argument (positive set)" positive).files;
      };
    maybeMissing =
      path:
      if pathExists path then
        coerce "maybeMissing: Argument" path
      else
        {
          _type = "fileset";
          files = [ ];
        };
    toSource =
      { root, fileset }:
      let
        rootStr = toString root;
        files = (coerce "toSource: `fileset`" fileset).files;
        outside = filter (f: !lib.hasPrefix "${rootStr}/" f.path) files;
      in
      if !isPath root || entryType root != "directory" then
        throw "lib.fileset.toSource: `root` (${rootStr}) must be an existing directory path."
      else if outside != [ ] then
        throw "lib.fileset.toSource: `fileset` contains ${(head outside).path}, which is not under the `root` (${rootStr})."
      else
        {
          _type = "stub-source";
          outPath = "/nix/store/${substring 0 32 (builtins.hashString "sha256" rootStr)}-source";
          # Relative paths, deduplicated: what the build's $src holds.
          files = attrNames (
            listToAttrs (
              map (f: {
                name = lib.removePrefix "${rootStr}/" f.path;
                value = null;
              }) files
            )
          );
        };
  };

  lib = {
    inherit
      makeOverridable
      callPackageWith
      callPackagesWith
      isDerivation
      isFunction
      fileset
      ;
    functionArgs = fargsOf;
    genAttrs =
      names: f:
      listToAttrs (
        map (n: {
          name = n;
          value = f n;
        }) names
      );
    importTOML = p: builtins.fromTOML (builtins.readFile p);
    concatMapStringsSep = sep: f: l: builtins.concatStringsSep sep (map f l);
    hasSuffix =
      suffix: s:
      let
        ls = builtins.stringLength s;
        lx = builtins.stringLength suffix;
      in
      ls >= lx && substring (ls - lx) lx s == suffix;
    hasPrefix = prefix: s: substring 0 (builtins.stringLength prefix) s == prefix;
    removePrefix =
      prefix: s:
      if lib.hasPrefix prefix s then
        substring (builtins.stringLength prefix) (builtins.stringLength s) s
      else
        s;
    getLib = p: p.lib or p.out or p;
    licenses.mit = "mit";
    platforms.linux = systems;
    fakeHash = "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
  };

  # A call that names an argument outside `allowed` fails, like a function
  # with a fixed formal set; `required` must be present.
  formals =
    what: required: allowed: args:
    let
      unknown = attrNames (removeAttrs args allowed);
      absent = filter (n: !(args ? ${n})) required;
    in
    if unknown != [ ] then
      throw "${what}: called with unexpected argument '${head unknown}'"
    else if absent != [ ] then
      throw "${what}: called without required argument '${head absent}'"
    else
      args;

  # streamLayeredImage's formals (pkgs/build-support/docker/default.nix).
  streamLayeredImageArgs = [
    "name"
    "tag"
    "fromImage"
    "contents"
    "config"
    "architecture"
    "created"
    "mtime"
    "uid"
    "gid"
    "uname"
    "gname"
    "maxLayers"
    "extraCommands"
    "fakeRootCommands"
    "enableFakechroot"
    "includeStorePaths"
    "includeNixDB"
    "passthru"
    "layeringPipeline"
    "debug"
  ];

  pkgsFor =
    system:
    let
      leaf = n: drv n { };
      pkgs = {
        inherit lib;
        stdenv.hostPlatform.rust.rustcTarget = "${head (builtins.split "-" system)}-unknown-linux-gnu";
        callPackage = callPackageWith pkgs;
        callPackages = callPackagesWith pkgs;

        # common.nix: outputs = [ "out" "bin" "dev" "static" "getent" ];
        # default.nix adds "debug" (separateDebugInfo) and passthru.libgcc,
        # the libgcc whose lib/ glibc embeds as a trusted dir. The libgcc name
        # is the stdenv bootstrap's gcc, as glibc is built there.
        glibc =
          let
            outs = [
              "out"
              "bin"
              "dev"
              "static"
              "getent"
              "debug"
            ];
            base = drv "glibc-2.40-66" { };
          in
          base
          // {
            outputs = outs;
            libgcc = drv "xgcc-14.3.0-libgcc" { };
          }
          // listToAttrs (
            map (o: {
              name = o;
              value = if o == "out" then base else drv "glibc-2.40-66-${o}" { };
            }) outs
          );

        rustPlatform = {
          rustLibSrc = leaf "rust-lib-src";
          buildRustPackage =
            args:
            let
              self =
                if !(args ? src) then
                  throw "buildRustPackage: no src"
                else if !(args ? cargoLock || args ? cargoHash) then
                  throw "buildRustPackage: cargoHash, cargoVendorDir, or cargoLock must be set"
                else
                  drv "${args.pname}-${args.version}" {
                    inherit args;
                    inherit (args) version;
                    # stdenv.mkDerivation's overrideAttrs: previous attrs in
                    # (buildRustPackage always sets nativeBuildInputs: its
                    # cargo hooks), the same builder out.
                    overrideAttrs =
                      g:
                      pkgs.rustPlatform.buildRustPackage (
                        args // g (args // { nativeBuildInputs = args.nativeBuildInputs or [ ]; })
                      );
                  };
            in
            builtins.deepSeq [
              args.src.files
              (args.RUSTFLAGS or "")
              (args.postFixup or "")
              (builtins.readFile args.cargoLock.lockFile)
            ] self;
        };

        dockerTools.buildLayeredImage = makeOverridable (
          args:
          let
            streamArgs = formals "dockerTools.streamLayeredImage" [ "name" ] streamLayeredImageArgs (
              removeAttrs args [ "compressor" ]
            );
          in
          drv "${baseNameOf streamArgs.name}.tar.gz" { inherit args; }
        );

        mkShell =
          args:
          if builtins.all isDerivation (args.packages or [ ]) then
            drv "nix-shell" { inherit args; }
          else
            throw "mkShell: a member of packages is not a derivation";
        buildGoModule =
          args:
          builtins.deepSeq [
            args.src
            args.vendorHash
          ] (drv "${args.pname}-${args.version}" { inherit args; });
        fetchFromGitHub =
          args:
          drv "source" {
            args = formals "fetchFromGitHub" [
              "owner"
              "repo"
              "rev"
              "hash"
            ] [
              "owner"
              "repo"
              "rev"
              "hash"
              "tag"
              "fetchSubmodules"
            ] args;
          };
        runCommand = name: _env: script: builtins.seq script (drv name { });

        libidn2 = drv "libidn2-2.3.8" { };
        # nixpkgs' prometheus has outputs [ "out" "doc" "cli" ]; promtool is in cli
        # (pkgs/by-name/pr/prometheus/package.nix).
        prometheus = drv "prometheus" {
          outputs = [
            "out"
            "doc"
            "cli"
          ];
          cli = drv "prometheus-cli" { };
        };
      }
      // listToAttrs (
        map
          (n: {
            name = n;
            value = leaf n;
          })
          [
            "cargo"
            "rustc"
            "clippy"
            "rustfmt"
            "rust-analyzer"
            "curl"
            "wrk"
            "redis"
            "kubectl"
            "jq"
            "gnumake"
            "nukeReferences"
            "removeReferencesTo"
            "nixfmt-tree"
            "util-linux"
          ]
      );
    in
    pkgs;
in
{
  inherit lib;
  legacyPackages = lib.genAttrs systems pkgsFor;
}
