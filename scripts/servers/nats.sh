#!/usr/bin/env bash
# A throwaway nats-server with JetStream (file storage) on 127.0.0.1.
#   nats.sh start DIR [--owner PID [--cleanup]]   prints NATS_URL=nats://127.0.0.1:PORT
#   nats.sh stop DIR
set -euo pipefail
# shellcheck source=scripts/servers/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

srv_launch() {
  local dir="$1" bin port mport
  bin="$(command -v nats-server || echo /usr/sbin/nats-server)"
  [[ -x "$bin" ]] || srv_missing nats-server
  port="$(free_port)"
  mport="$(free_port)"
  mkdir -p "$dir/js"
  # The monitoring port serves /healthz, which turns 200 only once JetStream
  # is up (an open client port alone does not say that).
  srv_spawn "$dir" "$bin" -js -sd "$dir/js" -a 127.0.0.1 -p "$port" -m "$mport" -n ltxbus-test
  srv_wait_port "$dir" "$port" 20 || return 1
  srv_wait_http "$dir" "http://127.0.0.1:$mport/healthz" 20 || return 1
  printf 'NATS_URL=nats://127.0.0.1:%s\nNATS_MONITOR_URL=http://127.0.0.1:%s\n' \
    "$port" "$mport" >"$dir/env.new"
}

srv_main "${BASH_SOURCE[0]}" "$@"
