# Shared helpers for ltxbus scripts. Source it; do not run it.
log() { printf '[ltxbus] %s\n' "$*" >&2; }
die() { printf '[ltxbus] error: %s\n' "$*" >&2; exit 1; }

# Where downloaded and built tools live, outside git.
ltxbus_tools_dir() { echo "${LTXBUS_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/ltxbus}"; }

# Prints a TCP port on 127.0.0.1 that was free a moment ago.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Waits until 127.0.0.1:PORT accepts connections, or fails after SECONDS.
wait_port() { # port seconds [pid]
  local port="$1" deadline=$((SECONDS + $2)) pid="${3:-}"
  while ((SECONDS < deadline)); do
    if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then return 1; fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  return 1
}

# The Debian archive URI this machine's apt already uses (so no host name is
# hard-coded in the repository).
debian_archive_uri() {
  local uri
  uri="$( (cat /etc/apt/sources.list.d/*.sources 2>/dev/null || true) |
    awk '/^URIs:/ {for (i = 2; i <= NF; i++) print $i}' | grep -v -- '-security' | grep '/debian/\?$' | head -1)"
  if [[ -z "$uri" ]]; then
    uri="$( (cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true) |
      awk '$1 == "deb" {for (i = 2; i <= NF; i++) if ($i ~ /^(https?|file):/) {print $i; break}}' |
      grep -v -- '-security' | grep '/debian/\?$' | head -1)"
  fi
  [[ -n "$uri" ]] || die "cannot find the Debian archive in /etc/apt sources"
  echo "${uri%/}"
}
