#!/usr/bin/env bash
# A 3-node MariaDB Galera cluster on loopback, for `make test-cluster` (docs/SCALE-OUT.md). Each node has its own
# folder and --defaults-file, so /etc/mysql and the server on 3306 are never touched. Every node is tracked by the
# pid this script launched, and stopped by that pid.
#
#   cluster.sh start            fresh data folders, node 1 bootstraps, nodes 2 and 3 join; waits for 3 Synced nodes
#   cluster.sh stop             stops every node this script started (SIGTERM, then SIGKILL after 30 s)
#   cluster.sh kill N           SIGKILL node N (a crash)
#   cluster.sh restart N        recovers node N's position and starts it again; waits until it is Synced
#   cluster.sh wait-synced N    waits until node N is Synced
#   cluster.sh install          installs galera-4 and rsync when missing (apt-get)
#
# Node N: SQL on 127.0.0.1:351N, Galera on 456(6+N), IST on 466(6+N), SST on 476(6+N).
set -euo pipefail

# Under /tmp rather than the checkout: the nodes run as the mysql user, who may not be able to enter the folder a
# clone sits in (/root…). One folder per checkout, so that `stop` finds the pids that `start` recorded.
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DIR=${CLUSTER_DIR:-${TMPDIR:-/tmp}/tenantkv-cluster-$(printf %s "$ROOT" | md5sum | cut -c1-8)}
PROVIDER=${GALERA_PROVIDER:-/usr/lib/galera/libgalera_smm.so}
MARIADBD=${MARIADBD:-$(command -v mariadbd || echo /usr/sbin/mariadbd)}

say() { printf 'cluster: %s\n' "$*" >&2; }
port() { echo $((3510 + $1)); }
# Over each node's socket: root@localhost needs no TCP account.
sql() { mariadb --socket="$DIR/node$1/mysqld.sock" -uroot -N -B -e "$2" 2>/dev/null; }

install() {
  local missing=()
  [ -f "$PROVIDER" ] || missing+=(galera-4)
  command -v rsync >/dev/null 2>&1 || missing+=(rsync)
  command -v mariadb-install-db >/dev/null 2>&1 || missing+=(mariadb-server)
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

config() {
  local n=$1 g=$((4566 + $1)) i=$((4666 + $1)) s=$((4766 + $1)) node="$DIR/node$1"
  cat >"$node/my.cnf" <<CNF
[mysqld]
user=mysql
datadir=$node/data
socket=$node/mysqld.sock
pid-file=$node/mysqld.pid
log-error=$node/error.log
port=$(port "$n")
bind-address=127.0.0.1
skip-name-resolve
character-set-server=utf8mb4
collation-server=utf8mb4_bin
innodb_buffer_pool_size=96M
innodb_log_file_size=48M
innodb_flush_log_at_trx_commit=2
performance_schema=OFF
max_connections=300
event_scheduler=ON
binlog_format=ROW
innodb_autoinc_lock_mode=2
wsrep_on=ON
wsrep_provider=$PROVIDER
wsrep_cluster_name=tenantkv_test
wsrep_cluster_address=gcomm://127.0.0.1:4567,127.0.0.1:4568,127.0.0.1:4569
wsrep_node_name=node$n
wsrep_node_address=127.0.0.1:$g
wsrep_provider_options="gmcast.listen_addr=tcp://127.0.0.1:$g;ist.recv_addr=127.0.0.1:$i;gcache.size=64M"
wsrep_sst_receive_address=127.0.0.1:$s
wsrep_sst_method=rsync
wsrep_slave_threads=2
CNF
}

launch() { # launch N [extra mariadbd args…]: starts node N in the background and records the pid launched
  local n=$1 node="$DIR/node$1"
  shift
  "$MARIADBD" --defaults-file="$node/my.cnf" "$@" >>"$node/stdout.log" 2>&1 &
  echo $! >"$node/launched.pid"
}

alive() { local pid; pid=$(cat "$DIR/node$1/launched.pid" 2>/dev/null) && kill -0 "$pid" 2>/dev/null; }

wait_synced() { # wait_synced N [seconds]
  local n=$1 limit=${2:-180} state
  for _ in $(seq 1 "$limit"); do
    if ! alive "$n"; then
      say "node $n died; the end of its error log:"
      tail -n 30 "$DIR/node$n/error.log" >&2 || true
      return 1
    fi
    state=$(sql "$n" "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'wsrep_local_state_comment'" || true)
    [ "$state" = "Synced" ] && return 0
    sleep 1
  done
  say "node $n not Synced after ${limit} s (state: ${state:-no answer})"
  tail -n 30 "$DIR/node$n/error.log" >&2 || true
  return 1
}

start() {
  install
  stop_all quietly
  for n in 1 2 3; do
    if (echo >"/dev/tcp/127.0.0.1/$(port "$n")") 2>/dev/null; then
      say "port $(port "$n") is taken by another process: stop it first (the nodes use 3511-3513, 4567-4569, 4667-4669, 4767-4769)"
      return 1
    fi
  done
  rm -rf "$DIR"
  mkdir -p "$DIR"
  for n in 1 2 3; do
    mkdir -p "$DIR/node$n/data"
    config "$n"
  done
  # One data folder is prepared; nodes 2 and 3 receive it by state transfer when they join.
  mariadb-install-db --defaults-file="$DIR/node1/my.cnf" --user=mysql --skip-test-db --wsrep-on=OFF \
    >"$DIR/node1/install.log" 2>&1 || { cat "$DIR/node1/install.log" >&2; return 1; }
  chown -R mysql:mysql "$DIR"
  chmod 755 "$DIR"
  local t0=$SECONDS
  launch 1 --wsrep-new-cluster
  wait_synced 1
  # Test only: root over TCP without a password, as on the server on 3306. It replicates to the other nodes.
  sql 1 "CREATE USER IF NOT EXISTS root@'127.0.0.1'; GRANT ALL ON *.* TO root@'127.0.0.1' WITH GRANT OPTION;"
  launch 2
  wait_synced 2
  launch 3
  wait_synced 3
  local size
  size=$(sql 1 "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'wsrep_cluster_size'")
  [ "$size" = 3 ] || { say "cluster size is ${size:-unknown}, not 3"; return 1; }
  say "3 nodes Synced on 127.0.0.1:3511-3513 in $((SECONDS - t0)) s"
}

kill_node() {
  local pid
  pid=$(cat "$DIR/node$1/launched.pid")
  kill -KILL "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  say "node $1 (pid $pid) killed"
}

restart() { # after a crash: the position the node reached, so that it rejoins by incremental transfer
  local n=$1 node="$DIR/node$1" position
  alive "$n" && { say "node $n is running"; return 1; }
  : >"$node/recover.log"
  "$MARIADBD" --defaults-file="$node/my.cnf" --wsrep-recover --log-error="$node/recover.log" >/dev/null 2>&1 || true
  position=$(sed -n 's/.*WSREP: Recovered position: \(.*\)$/\1/p' "$node/recover.log" | tail -n 1)
  say "node $n recovered position ${position:-none}"
  if [ -n "$position" ]; then launch "$n" --wsrep-start-position="$position"; else launch "$n"; fi
  wait_synced "$n"
  say "node $n Synced again"
}

stop_all() {
  local pids=() pid
  for n in 1 2 3; do
    pid=$(cat "$DIR/node$n/launched.pid" 2>/dev/null) || continue
    kill -0 "$pid" 2>/dev/null || continue
    kill -TERM "$pid" 2>/dev/null && pids+=("$pid")
  done
  for _ in $(seq 1 300); do
    local left=()
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && left+=("$pid"); done
    [ ${#left[@]} -eq 0 ] && break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null; done
  [ "${1:-}" = quietly ] || say "stopped ${#pids[@]} node(s)"
}

case "${1:-}" in
  start) start ;;
  stop) stop_all ;;
  kill) kill_node "$2" ;;
  restart) restart "$2" ;;
  wait-synced) wait_synced "$2" "${3:-180}" ;;
  install) install ;;
  *) echo "usage: $0 start|stop|kill N|restart N|wait-synced N|install" >&2; exit 2 ;;
esac
