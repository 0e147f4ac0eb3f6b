# Shared code of the throwaway test servers in scripts/servers/. Source it from
# a server script that defines srv_launch, then call `srv_main "$@"`.
#
# srv_launch DIR runs with DIR absolute and empty of a running server. It picks
# ports, starts the server with srv_spawn, waits until it is ready (always with
# a timeout) and writes KEY=VALUE lines to DIR/env.new. It returns non-zero on
# failure; srv_main then prints the log tail, cleans up and fails.
#
# A script that also defines srv_relaunch supports `down` and `up` (a restart
# that keeps the data): srv_relaunch DIR starts the server again from what
# srv_launch left in DIR (config, data, and the ports in DIR/env), and waits
# until it is ready.
servers_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/lib.sh
source "$servers_dir/../lib.sh"

# Seconds `stop` waits after SIGTERM before it sends SIGKILL.
: "${LTXBUS_STOP_GRACE:=15}"

# True if process PID exists and is not a zombie. Orphaned servers are
# reparented to PID 1, which in a container may never reap them, so a zombie
# has to count as gone, unless only its main thread has exited: a JVM's
# other threads may still run (and hold its sockets) for a while.
srv_pid_alive() {
  local stat fields
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  read -ra fields <<<"${stat##*) }"
  # fields[0] is the state (field 3), fields[17] the thread count (field 20).
  [[ "${fields[0]}" != Z || "${fields[17]:-1}" -gt 1 ]]
}

# True if any live process is in process group PGID (see srv_pid_alive; "l"
# in ps's STAT marks a multi-threaded process).
srv_group_alive() {
  ps -e -o pgid=,stat= |
    awk -v g="$1" '$1 == g && ($2 !~ /^Z/ || $2 ~ /l/) {found = 1} END {exit !found}'
}

# Fails with a message that says how to install the missing piece.
srv_missing() { die "$1 not found; run scripts/install-deps.sh"; }

# srv_spawn DIR CMD...: starts CMD in a new session (so its process group can
# be killed as a whole), detached from our stdio, logging to DIR/server.log.
srv_spawn() {
  local dir="$1"
  shift
  # A background job of a non-interactive shell is not a process-group
  # leader, so setsid(1) execs in place and $! is the new session's leader.
  # Running in DIR keeps stray files (JVM crash logs, say) inside it.
  (cd "$dir" && exec setsid "$@") </dev/null >>"$dir/server.log" 2>&1 &
  echo $! >"$dir/pid"
}

# srv_wait_port DIR PORT SECONDS: waits until 127.0.0.1:PORT accepts
# connections; fails early if the server in DIR dies.
srv_wait_port() {
  local pid deadline=$((SECONDS + $3))
  pid="$(cat "$1/pid")"
  while ((SECONDS < deadline)); do
    srv_pid_alive "$pid" || { log "the server exited during startup"; return 1; }
    if (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  log "timed out after ${3}s waiting for port $2"
  return 1
}

# srv_wait_http DIR URL SECONDS: waits until URL answers 2xx, or the server
# in DIR dies.
srv_wait_http() {
  local pid url="$2" deadline=$((SECONDS + $3))
  pid="$(cat "$1/pid")"
  while ((SECONDS < deadline)); do
    srv_pid_alive "$pid" || { log "the server exited during startup"; return 1; }
    if curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  log "timed out after ${3}s waiting for $url"
  return 1
}

# srv_random_hex N: N random bytes as hex (for keys and secrets).
srv_random_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }

# srv_kill_group PGID SIGNAL: sends SIGNAL to the process group and waits
# until it is gone; after SIGTERM it escalates to SIGKILL once
# LTXBUS_STOP_GRACE seconds have passed.
srv_kill_group() {
  local pid="$1" deadline
  srv_group_alive "$pid" || return 0
  kill "-$2" -- "-$pid" 2>/dev/null || true
  deadline=$((SECONDS + LTXBUS_STOP_GRACE))
  while srv_group_alive "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
  if srv_group_alive "$pid"; then
    log "pid $pid ignored SIG$2 for ${LTXBUS_STOP_GRACE}s; sending SIGKILL"
    kill -KILL -- "-$pid" 2>/dev/null || true
    deadline=$((SECONDS + 10))
    while srv_group_alive "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
    srv_group_alive "$pid" && die "process group $pid survived SIGKILL"
  fi
  return 0
}

srv_stop() {
  local dir="$1" pid wpid
  # The watchdog goes first, so it cannot race us; when it is the one stopping
  # the server it has removed its pid file already.
  if [[ -f "$dir/watchdog.pid" ]]; then
    wpid="$(cat "$dir/watchdog.pid")"
    rm -f "$dir/watchdog.pid"
    [[ -n "$wpid" ]] && kill -KILL -- "-$wpid" 2>/dev/null || true
  fi
  [[ -f "$dir/pid" ]] || return 0
  pid="$(cat "$dir/pid")"
  [[ -n "$pid" ]] && srv_kill_group "$pid" TERM
  rm -f "$dir/pid" "$dir/env" "$dir/down"
}

# srv_down DIR SIGNAL: stops the server (TERM: cleanly; KILL: as in a crash)
# but keeps everything `up` needs. The pid file stays, naming the dead group,
# so the watchdog keeps watching and `stop` still cleans up.
srv_down() {
  local dir="$1" pid
  [[ -f "$dir/pid" && -f "$dir/env" ]] || die "no server was started in $dir"
  pid="$(cat "$dir/pid")"
  srv_kill_group "$pid" "$2"
  touch "$dir/down"
}

# srv_up SCRIPT DIR: starts a server that `down` stopped, on the same ports,
# with the same data. No retry with other ports: clients expect the old ones.
srv_up() {
  local script="$1" dir="$2"
  declare -F srv_relaunch >/dev/null || die "$(basename "$script" .sh) cannot be restarted"
  [[ -f "$dir/pid" && -f "$dir/env" ]] || die "no server was started in $dir"
  if srv_group_alive "$(cat "$dir/pid")"; then
    die "the server in $dir is running (pid $(cat "$dir/pid")); run down first"
  fi
  printf '\n[ltxbus] ---- restarting (%s) ----\n' "$(date -u '+%H:%M:%S')" >>"$dir/server.log"
  if ! srv_relaunch "$dir"; then
    log "$(basename "$script" .sh) failed to restart in $dir; last lines of $dir/server.log:"
    tail -n 40 "$dir/server.log" >&2
    srv_kill_group "$(cat "$dir/pid")" KILL
    exit 1
  fi
  rm -f "$dir/down"
  cat "$dir/env"
}

# srv_env_port DIR KEY: the port at the end of KEY's value in DIR/env.
srv_env_port() {
  local port
  port="$(sed -n "s/^$2=.*:\([0-9][0-9]*\)\/*\$/\1/p" "$1/env")"
  [[ -n "$port" ]] || die "no port in $2 in $1/env"
  echo "$port"
}

# srv_watchdog SCRIPT DIR OWNER CLEANUP: stops the server once process OWNER
# is gone, so a test binary that crashes cannot leak servers; with CLEANUP=1
# it then removes DIR too (the test that made DIR can no longer do it).
srv_watchdog() {
  local script="$1" dir="$2" owner="$3" cleanup="$4"
  # No liveness check here: if the owner died while we were starting, the
  # loop below ends at once and the server is stopped rather than leaked.
  setsid bash -c '
    source "$1"
    while srv_pid_alive "$4" && [[ -f "$3/pid" ]]; do sleep 1; done
    [[ -f "$3/pid" ]] || exit 0
    rm -f "$3/watchdog.pid"
    log "owner $4 is gone; stopping the server in $3"
    "$2" stop "$3"
    if [[ "$5" == 1 ]]; then rm -rf "$3"; fi' watchdog "$servers_dir/common.sh" "$script" \
    "$dir" "$owner" "$cleanup" </dev/null >>"$dir/watchdog.log" 2>&1 &
  echo $! >"$dir/watchdog.pid"
}

srv_start() {
  local script="$1" dir="$2" owner="$3" cleanup="$4" attempt
  if [[ -n "$owner" ]]; then
    [[ "$owner" =~ ^[0-9]+$ ]] && srv_pid_alive "$owner" ||
      die "--owner $owner is not a running process"
  fi
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  if [[ -f "$dir/pid" ]] && srv_group_alive "$(cat "$dir/pid")"; then
    die "a server is already running in $dir (pid $(cat "$dir/pid")); stop it first"
  fi
  rm -f "$dir/env" "$dir/env.new"
  # Ports come from free_port, so another process can take one before the
  # server binds it; a bind failure is worth a retry with new ports.
  for attempt in 1 2 3; do
    : >"$dir/server.log"
    if srv_launch "$dir"; then
      mv "$dir/env.new" "$dir/env"
      [[ -n "$owner" ]] && srv_watchdog "$script" "$dir" "$owner" "$cleanup"
      cat "$dir/env"
      return 0
    fi
    srv_stop "$dir"
    if ((attempt < 3)) && grep -qiE 'address already in use|BindException|bind: ' "$dir/server.log"; then
      log "port conflict; retrying with new ports"
      continue
    fi
    break
  done
  log "$(basename "$script" .sh) failed to start in $dir; last lines of $dir/server.log:"
  tail -n 40 "$dir/server.log" >&2
  exit 1
}

srv_main() {
  local script cmd="${2:-}" dir="${3:-}" owner="" cleanup=0 signal=TERM
  script="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
  [[ -n "$cmd" && -n "$dir" ]] ||
    die "usage: $(basename "$script") start DIR [--owner PID [--cleanup]] | stop DIR" \
      "| down DIR [--kill] | up DIR | restart DIR [--kill]"
  shift 3
  while (($#)); do
    case "$1" in
      --owner) owner="${2:?--owner needs a PID}"; shift 2 ;;
      --cleanup) cleanup=1; shift ;;
      --kill) signal=KILL; shift ;;
      *) die "unknown argument: $1" ;;
    esac
  done
  case "$cmd" in
    start) srv_start "$script" "$dir" "$owner" "$cleanup" ;;
    stop) [[ -d "$dir" ]] && srv_stop "$(cd "$dir" && pwd)"; return 0 ;;
    down) [[ -d "$dir" ]] || die "no such directory: $dir"; srv_down "$(cd "$dir" && pwd)" "$signal" ;;
    up) [[ -d "$dir" ]] || die "no such directory: $dir"; srv_up "$script" "$(cd "$dir" && pwd)" ;;
    restart)
      [[ -d "$dir" ]] || die "no such directory: $dir"
      dir="$(cd "$dir" && pwd)"
      srv_down "$dir" "$signal"
      srv_up "$script" "$dir"
      ;;
    *) die "unknown command: $cmd (want start, stop, down, up or restart)" ;;
  esac
}
