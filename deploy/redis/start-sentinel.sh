#!/bin/sh
# Starts one Sentinel from deploy/redis/sentinel.conf: a writable copy (Sentinel records replicas, peers and
# failovers in it), the data nodes' password, its own password, and the first primary's name.
# usage: start-sentinel.sh INITIAL_PRIMARY_HOST
# env: REDIS_CONF_DIR (default /etc/redis), SENTINEL_DIR (default /tmp), REDIS_PASSWORD_FILE (default
#      /run/secrets/redis_password), SENTINEL_PASSWORD_FILE (optional), ANNOUNCE (default: the host name),
#      SENTINEL_PORT, REDIS_PORT (defaults 26379, 6379), REDIS_BIND (default: every interface), PEERS (optional: the other Sentinels' host names, asked for the current primary on a fresh start)
set -eu
conf_dir=${REDIS_CONF_DIR:-/etc/redis}
dir=${SENTINEL_DIR:-/tmp}
password=$(cat "${REDIS_PASSWORD_FILE:-/run/secrets/redis_password}")
announce=${ANNOUNCE:-$(hostname)}
port=${SENTINEL_PORT:-26379} redis_port=${REDIS_PORT:-6379} # only a local trial changes them
# Keep a config Sentinel already rewrote (a restart keeps what it learnt); else start from the shipped one.
if [ ! -s "$dir/sentinel.conf" ]; then
  primary=$1
  # A Sentinel replacing a lost one starts where its peers are, not at the first primary, which may be a
  # replica by now.
  spw=""; [ -n "${SENTINEL_PASSWORD_FILE:-}" ] && spw=$(cat "$SENTINEL_PASSWORD_FILE")
  for peer in ${PEERS:-}; do
    [ "$peer" = "$announce" ] && continue
    known=$(REDISCLI_AUTH="$spw" redis-cli -h "$peer" -p "$port" SENTINEL get-master-addr-by-name counter 2>/dev/null | head -1 || true)
    if [ -n "$known" ]; then primary=$known; break; fi
  done
  sed -e "s/^sentinel monitor counter [^ ]* [^ ]* /sentinel monitor counter $primary $redis_port /" \
    -e "s/^port .*/port $port/" -e "s|^dir .*|dir $dir|" "$conf_dir/sentinel.conf" >"$dir/sentinel.conf"
  {
    echo "sentinel auth-pass counter $password"
    echo "sentinel announce-ip $announce"
    if [ -n "${SENTINEL_PASSWORD_FILE:-}" ]; then
      echo "requirepass $(cat "$SENTINEL_PASSWORD_FILE")"
      echo "sentinel sentinel-pass $(cat "$SENTINEL_PASSWORD_FILE")"
    fi
  } >>"$dir/sentinel.conf"
fi
exec redis-server "$dir/sentinel.conf" --sentinel ${REDIS_BIND:+--bind "$REDIS_BIND"}
