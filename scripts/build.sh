#!/usr/bin/env bash
# Configures and builds one configuration into build/<config>:
#   scripts/build.sh [Release|Debug|Asan] [extra cmake args...]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
config="${1:-Release}"
shift || true
dir="$root/build/$(echo "$config" | tr '[:upper:]' '[:lower:]')"
extra=()
# Benchmarks are timed in Release only; sanitizer builds skip them.
[[ "$config" == "Asan" ]] && extra+=(-DLTXBUS_BUILD_BENCH=OFF)
cmake -S "$root" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE="$config" "${extra[@]}" "$@" >/dev/null
cmake --build "$dir" -j"$(nproc)"
echo "$dir"
