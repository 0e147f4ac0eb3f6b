#!/usr/bin/env bash
# Starts and stops the real test servers by hand (the C++ tests start their
# own through tests/support/testbed.h).
#   scripts/testbed.sh start [nats|kafka|moto|versitygw|all] [DIR]
#   scripts/testbed.sh stop [DIR]
#   scripts/testbed.sh env [DIR]
# DIR defaults to ${TMPDIR:-/tmp}/ltxbus-testbed; each server lives in DIR/<name>
# and DIR/env collects every server's KEY=VALUE lines (`set -a; . DIR/env`).
# Two S3 servers both define S3_*; DIR/env prefixes versitygw's with VGW_.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/lib.sh
source "$here/lib.sh"

all=(nats kafka moto versitygw)
cmd="${1:-}"
case "$cmd" in
  start) what="${2:-all}"; dir="${3:-${TMPDIR:-/tmp}/ltxbus-testbed}" ;;
  stop | env) what=all; dir="${2:-${TMPDIR:-/tmp}/ltxbus-testbed}" ;;
  *) die "usage: $0 start [nats|kafka|moto|versitygw|all] [DIR] | stop [DIR] | env [DIR]" ;;
esac
if [[ "$what" == all ]]; then kinds=("${all[@]}"); else kinds=("$what"); fi
for k in "${kinds[@]}"; do [[ -f "$here/servers/$k.sh" ]] || die "unknown server: $k"; done

collect_env() {
  local k
  for k in "${all[@]}"; do
    [[ -f "$dir/$k/env" ]] || continue
    if [[ "$k" == versitygw ]]; then sed 's/^/VGW_/' "$dir/$k/env"; else cat "$dir/$k/env"; fi
  done >"$dir/env"
}

case "$cmd" in
  start)
    mkdir -p "$dir"
    # In parallel: Kafka alone takes several seconds.
    pids=()
    for k in "${kinds[@]}"; do
      "$here/servers/$k.sh" start "$dir/$k" >/dev/null &
      pids+=($!)
    done
    failed=0
    for i in "${!kinds[@]}"; do wait "${pids[$i]}" || { log "${kinds[$i]} failed"; failed=1; }; done
    collect_env
    cat "$dir/env"
    ((failed == 0)) || die "some servers failed to start (see $dir/<name>/server.log)"
    log "servers in $dir; stop them with: $0 stop $dir"
    ;;
  stop)
    for k in "${all[@]}"; do
      if [[ -d "$dir/$k" ]]; then "$here/servers/$k.sh" stop "$dir/$k"; fi
    done
    collect_env 2>/dev/null || true
    ;;
  env)
    collect_env
    cat "$dir/env"
    ;;
esac
