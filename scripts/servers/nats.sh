#!/usr/bin/env bash
# A throwaway nats-server with JetStream (file storage) on 127.0.0.1.
#   nats.sh start DIR [--owner PID [--cleanup]]   prints NATS_URL=nats://127.0.0.1:PORT
#   nats.sh stop DIR
#   nats.sh down DIR [--kill] | up DIR | restart DIR [--kill]   (same ports, same data)
set -euo pipefail
# shellcheck source=scripts/servers/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# nats_run DIR PORT MPORT: starts nats-server on DIR/js and waits until
# JetStream is up.
nats_run() {
  local dir="$1" bin
  bin="$(command -v nats-server || echo /usr/sbin/nats-server)"
  [[ -x "$bin" ]] || srv_missing nats-server
  mkdir -p "$dir/js"
  # The monitoring port serves /healthz, which turns 200 only once JetStream
  # is up (an open client port alone does not say that).
  srv_spawn "$dir" "$bin" -js -sd "$dir/js" -a 127.0.0.1 -p "$2" -m "$3" -n ltxbus-test
  srv_wait_port "$dir" "$2" 20 || return 1
  srv_wait_http "$dir" "http://127.0.0.1:$3/healthz" 30 || return 1
}

srv_launch() {
  local dir="$1" port mport
  port="$(free_port)"
  mport="$(free_port)"
  nats_run "$dir" "$port" "$mport" || return 1
  printf 'NATS_URL=nats://127.0.0.1:%s\nNATS_MONITOR_URL=http://127.0.0.1:%s\n' \
    "$port" "$mport" >"$dir/env.new"
}

# Same ports, same store: JetStream recovers its streams from DIR/js.
srv_relaunch() {
  nats_run "$1" "$(srv_env_port "$1" NATS_URL)" "$(srv_env_port "$1" NATS_MONITOR_URL)"
}

srv_main "${BASH_SOURCE[0]}" "$@"
