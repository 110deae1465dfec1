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
#   - buildRustPackage as nixpkgs 25.11 builds it (pkgs/build-support/rust/
#     build-rust-package/default.nix: lib.extendMkDerivation with
#     excludeDrvArgNames depsExtraArgs, cargoUpdateHook, cargoLock,
#     useFetchCargoVendor and RUSTFLAGS; RUSTFLAGS moved into env), and
#     stdenv.mkDerivation's env checks and overrideAttrs, which sees those
#     final attributes, not the caller's (pkgs/stdenv/generic/make-derivation.nix);
#   - a git flake's source: only the files git tracks (`tracked`, from
#     `git ls-files`), as Nix copies a git work tree to the store.
# Everything else is a named placeholder derivation: it proves that the name
# is asked for and supplied, not that nixpkgs builds it.
#
# scripts/check-nix.sh also plants one mistake per modelled rule in a copy of
# the flake and checks that evaluating it fails with nixpkgs' message.
{
  # Absolute paths of the files git tracks; null walks the whole tree.
  tracked ? null,
}:
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
    isBool
    isInt
    isPath
    isString
    listToAttrs
    mapAttrs
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
  # lib/strings.nix isStringLike: strings, paths and attrsets with outPath or __toString.
  isStringLike = x: isString x || isPath x || x ? outPath || x ? __toString;

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
  #
  # A git flake's `self` is a store copy of the tracked files only: an
  # untracked or ignored file does not exist there, and a directory holding
  # no tracked file does not either. `known` maps each tracked file, and each
  # directory above one, to its type.
  known =
    if tracked == null then
      null
    else
      let
        parents = p: if p == "/" || p == "." then [ ] else [ p ] ++ parents (dirOf p);
      in
      listToAttrs (
        concatMap (
          f:
          [
            {
              name = f;
              value = "regular";
            }
          ]
          ++ map (d: {
            name = d;
            value = "directory";
          }) (parents (dirOf f))
        ) tracked
      );
  pathExists = p: if known == null then builtins.pathExists p else known ? ${toString p};
  entryType = p: (readDir (dirOf p)).${baseNameOf p};
  entries =
    p:
    let
      all = readDir p;
    in
    if known == null then
      all
    else
      builtins.removeAttrs all (filter (n: !(known ? "${toString p}/${n}")) (attrNames all));
  walk =
    p: type:
    if type == "directory" then
      concatMap (n: walk (p + "/${n}") (entries p).${n}) (attrNames (entries p))
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
      if isStringLike value then
        throw ''lib.fileset.${context} ("${toString value}") is a string-like value, but it should be a file set or a path instead. Paths represented as strings are not supported by `lib.fileset`, use `lib.sources` or derivations instead.''
      else
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
    # lib/fileset/default.nix fileFilter, internal.nix _fileFilter: the
    # predicate must be a function, and it is called with an extra attribute
    # so that `{ name, type, hasExt }:` (no `...`) fails.
    fileFilter =
      predicate: path:
      if !isFunction predicate then
        throw "lib.fileset.fileFilter: First argument is of type ${builtins.typeOf predicate}, but it should be a function instead."
      else if !isPath path then
        throw "lib.fileset.fileFilter: Second argument is of type ${builtins.typeOf path}, but it should be a path instead."
      else if !pathExists path then
        throw "lib.fileset.fileFilter: Second argument (${toString path}) is a path that does not exist."
      else
        {
          _type = "fileset";
          files = filter (
            file:
            let
              name = baseNameOf file.path;
            in
            let
              keep = predicate {
                inherit name;
                inherit (file) type;
                hasExt = ext: lib.hasSuffix ".${ext}" name;
                "lib.fileset.fileFilter: The predicate function passed as the first argument must be able to handle extra attributes for future compatibility. If you're using `{ name, file, hasExt }:`, use `{ name, file, hasExt, ... }:` instead." =
                  null;
              };
            in
            if isBool keep then keep else throw "lib.fileset.fileFilter: the predicate returned a ${builtins.typeOf keep}, not a Boolean"
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
    # lib/fileset/default.nix maybeMissing: a path, never a string.
    maybeMissing =
      path:
      if !isPath path then
        if isStringLike path then
          throw ''lib.fileset.maybeMissing: Argument ("${toString path}") is a string-like value, but it should be a path instead.''
        else
          throw "lib.fileset.maybeMissing: Argument is of type ${builtins.typeOf path}, but it should be a path instead."
      else if pathExists path then
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
    "meta"
    "layeringPipeline"
    "debug"
  ];

  pkgsFor =
    system:
    let
      leaf = n: drv n { };
      pkgs = {
        inherit lib;
        stdenv.hostPlatform = {
          rust.rustcTarget = "${head (builtins.split "-" system)}-unknown-linux-gnu";
          inherit system;
          isAarch64 = head (builtins.split "-" system) == "aarch64";
        };
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

        # stdenv.mkDerivation (pkgs/stdenv/generic/make-derivation.nix): `env`
        # may hold only strings, booleans, integers and derivations, and no
        # name that is also a top-level attribute; overrideAttrs extends the
        # attributes mkDerivation was given (one-argument `prev:` or
        # two-argument `final: prev:` form, lib.toExtension).
        stdenv.mkDerivation =
          attrs:
          let
            env = attrs.env or { };
            overlapping = filter (n: attrs ? ${n}) (attrNames env);
            badEnv = filter (
              n:
              let
                v = env.${n};
              in
              !(isString v || isBool v || isInt v || isDerivation v)
            ) (attrNames env);
            name = attrs.name or "${attrs.pname}-${attrs.version}";
          in
          if overlapping != [ ] then
            throw "mkDerivation: The `env` attribute set cannot contain any attributes passed to derivation. The following attributes are overlapping: ${builtins.concatStringsSep ", " overlapping}"
          else if badEnv != [ ] then
            throw "mkDerivation: The `env` attribute set can only contain derivation, string, boolean or integer attributes. The `${head badEnv}` attribute is of type ${builtins.typeOf env.${head badEnv}}."
          else
            builtins.deepSeq [ env ] (
              drv name {
                drvAttrs = attrs;
                version = attrs.version or null;
                overrideAttrs =
                  g:
                  let
                    step = g attrs;
                    changes = if isFunction step then step attrs else step;
                  in
                  pkgs.stdenv.mkDerivation (attrs // changes);
              }
            );

        rustPlatform = {
          rustLibSrc = leaf "rust-lib-src";
          # build-rust-package/default.nix (25.11): what mkDerivation, and so
          # overrideAttrs, sees is the caller's arguments less
          # excludeDrvArgNames, with RUSTFLAGS in env and the cargo hooks
          # appended to nativeBuildInputs.
          buildRustPackage =
            args:
            let
              hooks = map leaf [
                "cargo-build-hook.sh"
                "cargo-check-hook.sh"
                "cargo-install-hook.sh"
                "cargo-setup-hook.sh"
                "rustc"
                "cargo"
              ];
              cargoDeps =
                if args ? cargoLock then
                  builtins.seq (builtins.readFile args.cargoLock.lockFile) (leaf "cargo-vendor-dir")
                else if args ? cargoHash then
                  leaf "cargo-vendor-dir"
                else
                  throw "cargoHash, cargoVendorDir, cargoDeps, or cargoLock must be set";
            in
            if !(args ? src) then
              throw "buildRustPackage: no src"
            else
              builtins.deepSeq [ args.src.files ] (
                pkgs.stdenv.mkDerivation (
                  removeAttrs args [
                    "depsExtraArgs"
                    "cargoUpdateHook"
                    "cargoLock"
                    "useFetchCargoVendor"
                    "RUSTFLAGS"
                  ]
                  // {
                    env = {
                      PKG_CONFIG_ALLOW_CROSS = 0;
                      RUST_LOG = args.logLevel or "";
                      RUSTFLAGS = args.RUSTFLAGS or "";
                    }
                    // args.env or { };
                    inherit cargoDeps;
                    cargoBuildType = args.buildType or "release";
                    cargoCheckType = args.checkType or args.buildType or "release";
                    nativeBuildInputs = (args.nativeBuildInputs or [ ]) ++ hooks;
                    doCheck = args.doCheck or true;
                    strictDeps = true;
                  }
                )
              );
        };

        # pkgs/build-support/docker/default.nix: buildLayeredImage takes
        # `{ name, compressor ? "gz", ... }`, passes the rest to
        # streamLayeredImage and names its output "<name>.tar<ext>" after the
        # compressor, one of none, gz, zstd (compressorForImage).
        dockerTools.buildLayeredImage = makeOverridable (
          args:
          let
            compressors = {
              none = "";
              gz = ".gz";
              zstd = ".zst";
            };
            compressor = args.compressor or "gz";
            ext =
              compressors.${compressor} or (throw "in docker image ${args.name}: compressor must be one of: [${toString (attrNames compressors)}]");
            streamArgs = formals "dockerTools.streamLayeredImage" [ "name" ] streamLayeredImageArgs (
              removeAttrs args [ "compressor" ]
            );
          in
          drv "${baseNameOf streamArgs.name}.tar${ext}" {
            inherit args;
            meta = args.meta or { };
          }
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
            "openssl"
          ]
      );
    in
    pkgs;
in
{
  inherit lib;
  legacyPackages = lib.genAttrs systems pkgsFor;
}
