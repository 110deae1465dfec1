#!/bin/sh
# Starts one Sentinel from deploy/redis/sentinel.conf: a writable copy (Sentinel records replicas, peers and
# failovers in it), the data nodes' password, its own password, and the first primary's name.
# usage: start-sentinel.sh INITIAL_PRIMARY_HOST
# env: REDIS_CONF_DIR (default /etc/redis), SENTINEL_DIR (default /tmp), REDIS_PASSWORD_FILE (default
#      /run/secrets/redis_password), SENTINEL_PASSWORD_FILE (optional), ANNOUNCE (default: the host name)
set -eu
conf_dir=${REDIS_CONF_DIR:-/etc/redis}
dir=${SENTINEL_DIR:-/tmp}
password=$(cat "${REDIS_PASSWORD_FILE:-/run/secrets/redis_password}")
announce=${ANNOUNCE:-$(hostname)}
# Keep a config Sentinel already rewrote (a restart keeps what it learnt); else start from the shipped one.
if [ ! -s "$dir/sentinel.conf" ]; then
  sed "s/^sentinel monitor counter [^ ]* /sentinel monitor counter $1 /" "$conf_dir/sentinel.conf" >"$dir/sentinel.conf"
  {
    echo "sentinel auth-pass counter $password"
    echo "sentinel announce-ip $announce"
    if [ -n "${SENTINEL_PASSWORD_FILE:-}" ]; then
      echo "requirepass $(cat "$SENTINEL_PASSWORD_FILE")"
      echo "sentinel sentinel-pass $(cat "$SENTINEL_PASSWORD_FILE")"
    fi
  } >>"$dir/sentinel.conf"
fi
exec redis-server "$dir/sentinel.conf" --sentinel
