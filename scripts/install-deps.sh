#!/usr/bin/env bash
# Installs the programs the test suite drives (real clients and servers, never mocks), only those missing.
# As root with apt-get it installs them; otherwise it names what to install and fails.
set -euo pipefail

# program -> Debian package
# prometheus/promtool: tests/it/prometheus.rs and scripts/check-rules.sh (Debian's package ships both; its
# service is not started by the tests, which run their own on a free port). openssl: the rediss:// tests make
# their CA and certificates with it. faketime (and its libfaketime): tests/it/clock.rs steps the server's wall clock,
# and so does `make nemesis` (tests/nemesis), which also builds its partitions from network namespaces (ip) and
# nftables rules (nft). mkfs.ext4, filefrag, losetup, fallocate: tests/durable/disk.rs fails a state file's disk
# for real (ext4 on a loop device over a tmpfs).
declare -A PKG=([curl]=curl [wrk]=wrk [redis-server]=redis-server [redis-cli]=redis-tools [prometheus]=prometheus
  [promtool]=prometheus [openssl]=openssl [faketime]=faketime [ip]=iproute2 [nft]=nftables
  [mkfs.ext4]=e2fsprogs [filefrag]=e2fsprogs [losetup]=mount [fallocate]=util-linux)
missing=()
for prog in "${!PKG[@]}"; do
  command -v "$prog" >/dev/null 2>&1 || [[ " ${missing[*]} " == *" ${PKG[$prog]} "* ]] || missing+=("${PKG[$prog]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "install-deps: installing ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "install-deps: missing ${missing[*]}; install them (Debian: sudo apt-get install ${missing[*]}), or use 'nix develop'" >&2
  exit 1
fi
