#!/bin/sh
# A throwaway S3-compatible server on loopback for the deploy specs: OpenStack Swift (proxy with
# the s3api and tempauth middleware, one account, container and object server, memcached), with
# its config, rings, data, logs and pids all under one directory. It checks SigV4 signatures.
#
#   spec/support/s3_server.sh start DIR   # starts it; writes DIR/env (sh syntax) and prints it:
#                                         #   S3_ENDPOINT=http://127.0.0.1:PORT S3_REGION=us-east-1
#                                         #   S3_ACCESS_KEY=test:tester S3_SECRET_KEY=...
#   spec/support/s3_server.sh stop DIR    # stops the processes it started and removes DIR
#
# Ports are free ones picked at start (S3_PORT=8080 asks for a given proxy port). Only 127.0.0.1
# is bound. Missing Debian packages are installed through `make deps` (the Makefile's DEBS).
# Exits non-zero with a message on stderr when the server cannot start within S3_START_TIMEOUT
# seconds (default 90).
set -eu

cmd=${1:-}
dir=${2:-}
if [ -z "$cmd" ] || [ -z "$dir" ]; then
  echo "usage: $0 start|stop DIR" >&2
  exit 2
fi
root=$(cd "$(dirname "$0")/../.." && pwd)
# `make asan` preloads the sanitizer runtime into the suite; it hangs curl and is no use to Swift.
unset LD_PRELOAD
# Swift is Debian's python3 package: never a python3 from another install earlier in PATH.
PY=/usr/bin/python3

stop() {
  if [ -f "$dir/pids" ]; then
    while read -r pid; do
      kill "$pid" 2>/dev/null || true
    done < "$dir/pids"
    # up to 5 s to exit, then make sure
    for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25; do
      alive=0
      while read -r pid; do
        kill -0 "$pid" 2>/dev/null && alive=1
      done < "$dir/pids"
      [ "$alive" = 0 ] && break
      sleep 0.2
    done
    while read -r pid; do
      kill -9 "$pid" 2>/dev/null || true
    done < "$dir/pids"
  fi
  case "$dir" in
    /*/*) rm -rf "$dir" ;;  # never a bare / or a relative path
  esac
}

if [ "$cmd" = stop ]; then
  stop
  exit 0
fi
[ "$cmd" = start ] || { echo "$0: unknown command '$cmd' (start or stop)" >&2; exit 2; }

if ! command -v swift-proxy-server >/dev/null || ! command -v memcached >/dev/null; then
  make -C "$root" --no-print-directory -s deps >&2 || true
fi
for bin in swift-proxy-server swift-account-server swift-container-server swift-object-server \
           memcached; do
  command -v "$bin" >/dev/null || { echo "$0: $bin is not installed (make deps)" >&2; exit 1; }
done
[ -f /etc/swift/swift.conf ] || { echo "$0: /etc/swift/swift.conf is missing (Debian package swift)" >&2; exit 1; }

started=$(date +%s)
mkdir -p "$dir/etc" "$dir/srv/d1" "$dir/log" "$dir/run"
: > "$dir/pids"
user=$(id -un)
# A secret with the characters real AWS secrets have, so quoting bugs show.
secret_key="mnist+Secret/Key42"

# Five free loopback ports: proxy, account, container, object, memcached.
ports=$($PY - "${S3_PORT:-0}" <<'PYEOF'
import socket, sys
socks, ports = [], []
want = int(sys.argv[1])
for i in range(5):
    s = socket.socket()
    s.bind(("127.0.0.1", want if (i == 0 and want) else 0))
    socks.append(s)
    ports.append(s.getsockname()[1])
print(" ".join(map(str, ports)))
PYEOF
) || { echo "$0: cannot find free ports on 127.0.0.1${S3_PORT:+ (S3_PORT=$S3_PORT busy?)}" >&2; exit 1; }
set -- $ports
proxy_port=$1 account_port=$2 container_port=$3 object_port=$4 memcached_port=$5

common() { # $1 = port
  cat <<CONF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $1
workers = 0
user = $user
swift_dir = $dir/etc
devices = $dir/srv
mount_check = false
disable_fallocate = true
log_level = INFO
CONF
}

for kind in account container object; do
  eval port=\$${kind}_port
  { common "$port"; cat <<CONF

[pipeline:main]
pipeline = $kind-server

[app:$kind-server]
use = egg:swift#$kind
CONF
  } > "$dir/etc/$kind-server.conf"
done

# The three rings (part power 8, 1 replica, one device each), as `swift-ring-builder create 8 1 1;
# add r1z1-127.0.0.1:PORT/d1 1; rebalance` would make them, in one Python start instead of nine.
$PY - "$dir/etc" "$account_port" "$container_port" "$object_port" <<'PYEOF' ||
import sys
from swift.common.ring import RingBuilder
etc, ports = sys.argv[1], sys.argv[2:]
for kind, port in zip(("account", "container", "object"), ports):
    builder = RingBuilder(8, 1, 1)
    builder.add_dev({"region": 1, "zone": 1, "ip": "127.0.0.1", "port": int(port),
                     "device": "d1", "weight": 1})
    builder.rebalance()
    builder.get_ring().save("%s/%s.ring.gz" % (etc, kind))
PYEOF
  { echo "$0: building the Swift rings failed" >&2; exit 1; }

{ common "$proxy_port"; cat <<CONF

[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats s3api tempauth copy slo dlo proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true

[filter:s3api]
use = egg:swift#s3api
location = us-east-1

[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = $secret_key .admin

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:$memcached_port

[filter:catch_errors]
use = egg:swift#catch_errors

[filter:gatekeeper]
use = egg:swift#gatekeeper

[filter:healthcheck]
use = egg:swift#healthcheck

[filter:proxy-logging]
use = egg:swift#proxy_logging

[filter:listing_formats]
use = egg:swift#listing_formats

[filter:copy]
use = egg:swift#copy

[filter:slo]
use = egg:swift#slo

[filter:dlo]
use = egg:swift#dlo
CONF
} > "$dir/etc/proxy-server.conf"

# memcached refuses to run as root unless told which user to be.
as_user=""
[ "$(id -u)" = 0 ] && as_user="-u root"
memcached -l 127.0.0.1 -p "$memcached_port" -U 0 $as_user -m 16 > "$dir/log/memcached.log" 2>&1 &
echo $! >> "$dir/pids"
for kind in account container object proxy; do
  "swift-$kind-server" "$dir/etc/$kind-server.conf" -v > "$dir/log/$kind.log" 2>&1 &
  echo $! >> "$dir/pids"
done

# Ready when every backend answers HTTP and the proxy's healthcheck says OK.
limit=${S3_START_TIMEOUT:-90}
while :; do
  ready=1
  for port in $account_port $container_port $object_port; do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$port/" || true)
    [ "$code" != 000 ] || ready=0
  done
  [ "$ready" = 1 ] && [ "$(curl -s --max-time 2 "http://127.0.0.1:$proxy_port/healthcheck" || true)" = OK ] && break
  if [ $(( $(date +%s) - started )) -ge "$limit" ]; then
    echo "$0: Swift did not start within ${limit}s; last log lines:" >&2
    tail -n 5 "$dir"/log/*.log >&2 || true
    stop
    exit 1
  fi
  sleep 0.2
done

cat > "$dir/env" <<ENV
S3_ENDPOINT=http://127.0.0.1:$proxy_port
S3_REGION=us-east-1
S3_ACCESS_KEY=test:tester
S3_SECRET_KEY=$secret_key
S3_START_SECONDS=$(( $(date +%s) - started ))
ENV
cat "$dir/env"
