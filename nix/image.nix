# The OCI image: the static counter binary and nothing else (no shell, no
# package manager, no /etc, no libc). Owns the image config; the binary and its
# empty closure are package.nix's.
#
# buildLayeredImage rather than streamLayeredImage: the image is about a
# megabyte, so storing it costs nothing, and `result` is then a plain file, a
# gzipped docker-archive tarball, that `gunzip -c result | k3s ctr images
# import -` and `docker load < result` take as is and whose size CI can check
# (checks.nix). streamLayeredImage saves store space for big images at the cost
# of running a script on every load.
#
# Arguments, against nixpkgs pkgs/build-support/docker/default.nix:
# buildLayeredImage takes `{ name, compressor ? "gz", ... }@args`, passes the
# rest to streamLayeredImage and pipes its stream through the compressor into
# "<name>.tar.gz"; streamLayeredImage's formals (no `...`, so a misspelt
# argument fails evaluation) include name, tag, contents, config and created
# (default "1970-01-01T00:00:01Z"). scripts/check-nix.sh's stub nixpkgs has the
# same formals and rejects anything else.
{
  dockerTools,
  counter,
}:
dockerTools.buildLayeredImage {
  name = "counter";
  # The crate version (package.nix reads it from Cargo.toml), never `latest`:
  # kubernetes.yaml names counter:<version> with imagePullPolicy IfNotPresent.
  tag = counter.version;

  # `contents` stays empty, so no symlinks or directories appear at /. The
  # Entrypoint's store path alone puts the binary in the image, with its
  # closure, which package.nix pins to the binary itself (allowedReferences).
  config = {
    Entrypoint = [ "${counter}/bin/counter" ];
    ExposedPorts."8080/tcp" = { };
    # So `counter healthcheck` resolves inside the container (docker-compose.yaml's healthcheck): the image
    # has no shell to find it otherwise.
    Env = [ "PATH=${counter}/bin" ];
    # Numeric, because the image has no /etc/passwd to look a name up in;
    # 65534 is `nobody`, the uid kubernetes.yaml runs it as.
    User = "65534:65534";
  };
  # `created` keeps its default (1970-01-01T00:00:01Z): the same inputs give
  # the same image digest. "now" would break that.
}
