#!/usr/bin/env bash
# Installs everything ltxbus needs to build and test, from the repository alone:
# Debian packages, Kafka 3.9.1 jars (Maven Central), Litestream v0.5.16 and
# versitygw (go install), moto (PyPI). Idempotent: finished steps are skipped.
#
#   scripts/install-deps.sh            # everything
#   scripts/install-deps.sh --build    # only what building the C++ needs
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/lib.sh
source "$here/lib.sh"

only_build=0
[[ "${1:-}" == "--build" ]] && only_build=1

SUDO=""
if [[ "$(id -u)" != 0 ]]; then SUDO="sudo"; fi

debian_packages=(
  build-essential cmake ninja-build pkg-config git curl ca-certificates
  dpkg-dev xz-utils
  librdkafka-dev libnats-dev libssl-dev libzstd-dev libyaml-cpp-dev
  liblz4-dev libcurl4-openssl-dev libgoogle-perftools-dev
  libcli11-dev libspdlog-dev libfmt-dev nlohmann-json3-dev libpugixml-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  sqlite3 python3 libsqlite3-dev
  clang libclang-rt-14-dev clang-format
)
test_packages=(nats-server default-jdk-headless maven)

missing=()
want=("${debian_packages[@]}")
[[ $only_build == 0 ]] && want+=("${test_packages[@]}")
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Java and Maven may come from elsewhere on the machine; do not reinstall them.
if command -v java >/dev/null && command -v mvn >/dev/null; then
  missing=("${missing[@]/default-jdk-headless/}"); missing=("${missing[@]/maven/}")
fi
read -r -a missing <<<"${missing[*]:-}"
if ((${#missing[@]})); then
  log "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

"$here/build-sqlite.sh"
[[ $only_build == 1 ]] && exit 0

tools="$(ltxbus_tools_dir)"
mkdir -p "$tools/bin"

# Kafka broker jars, resolved by Maven from the pom kept in the repository.
if [[ ! -f "$tools/kafka-3.9.1/.complete" ]]; then
  log "fetching Apache Kafka 3.9.1 jars"
  rm -rf "$tools/kafka-3.9.1"
  mkdir -p "$tools/kafka-3.9.1"
  mvn -q -B -f "$here/kafka/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$tools/kafka-3.9.1/libs"
  touch "$tools/kafka-3.9.1/.complete"
fi

# Go programs. Debian's Go is too old; use the Go on PATH and let GOTOOLCHAIN
# fetch a newer toolchain through the module proxy when it is older than needed.
go_install() { # name module@version
  local name="$1" mod="$2"
  if [[ -x "$tools/bin/$name" && -f "$tools/bin/.$name.version" &&
    "$(cat "$tools/bin/.$name.version")" == "$mod" ]]; then return 0; fi
  log "go install $mod"
  GOTOOLCHAIN="${GOTOOLCHAIN:-auto}" GOBIN="$tools/bin" CGO_ENABLED=0 GOFLAGS=-mod=mod go install "$mod"
  echo "$mod" >"$tools/bin/.$name.version"
}
go_install litestream github.com/benbjohnson/litestream/cmd/litestream@v0.5.16 &
litestream_pid=$!
go_install versitygw github.com/versity/versitygw/cmd/versitygw@v1.7.0 &
versitygw_pid=$!
wait "$litestream_pid" || die "go install of litestream failed"
wait "$versitygw_pid" || die "go install of versitygw failed"

# moto, in a private virtualenv so the system Python stays untouched.
if [[ ! -x "$tools/venv/bin/moto_server" ]]; then
  log "installing moto into $tools/venv"
  python3 -m venv "$tools/venv"
  "$tools/venv/bin/pip" install -q "moto[server]==5.2.1" "boto3"
fi
log "dependencies ready in $tools"
