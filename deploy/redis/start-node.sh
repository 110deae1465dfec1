#!/bin/sh
# Starts one Redis data node from deploy/redis/redis.conf: a writable copy (Redis rewrites it when Sentinel
# reconfigures the node), the password from the mounted Secret, and the announce name. Used by
# docker-compose's ha profile and the Kubernetes StatefulSet alike.
# usage: start-node.sh [INITIAL_PRIMARY_HOST]   (no argument: this node is the first primary)
# env: REDIS_CONF_DIR (default /etc/redis), REDIS_DATA (default /data), REDIS_PASSWORD_FILE
#      (default /run/secrets/redis_password), REDIS_PORT (default 6379), REDIS_BIND (default: the file's),
#      ANNOUNCE (default: the host name), SENTINELS (space-separated host:port list to ask for the current
#      primary on a restart; optional), SENTINEL_PASSWORD_FILE (the Sentinels' password)
set -eu
conf_dir=${REDIS_CONF_DIR:-/etc/redis}
data=${REDIS_DATA:-/data}
password=$(cat "${REDIS_PASSWORD_FILE:-/run/secrets/redis_password}")
announce=${ANNOUNCE:-$(hostname)}
port=${REDIS_PORT:-6379} # every node listens on the same port; only a local trial changes it
cp "$conf_dir/redis.conf" "$data/redis.conf"
set -- "$data/redis.conf" --port "$port" --dir "$data" --requirepass "$password" --masterauth "$password" \
  --replica-announce-ip "$announce" ${REDIS_BIND:+--bind "$REDIS_BIND"} ${1:+--replicaof "$1" "$port"}
# After a failover the first primary is a replica now: ask a Sentinel who the primary is, so a restarted node
# never starts as a second primary (Sentinel would demote it, but not before min-replicas-to-write fences it).
primary=""
spw=""; [ -n "${SENTINEL_PASSWORD_FILE:-}" ] && spw=$(cat "$SENTINEL_PASSWORD_FILE")
for sentinel in ${SENTINELS:-}; do
  primary=$(REDISCLI_AUTH="$spw" redis-cli -h "${sentinel%:*}" -p "${sentinel##*:}" \
    SENTINEL get-master-addr-by-name counter 2>/dev/null | head -1 || true)
  [ -n "$primary" ] && break
done
if [ "$primary" = "$announce" ]; then
  set -- "$@" --replicaof no one
elif [ -n "$primary" ]; then
  set -- "$@" --replicaof "$primary" "$port"
fi
exec redis-server "$@"
