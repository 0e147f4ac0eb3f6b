#!/usr/bin/env bash
# README command 2: installs what is missing, then runs the whole test suite
# (unit and integration, against real nats-server, Kafka, S3 servers and
# Litestream) under AddressSanitizer + UndefinedBehaviorSanitizer, and the
# unit tests again in an optimised Release build.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
# shellcheck source=scripts/lib.sh
source "$here/lib.sh"
jobs="${LTXBUS_TEST_JOBS:-2}"

"$here/install-deps.sh"

log "building the Asan configuration"
"$here/build.sh" Asan >/dev/null
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
log "running every test (Asan + UBSan)"
ctest --test-dir "$root/build/asan" --output-on-failure -j"$jobs" --timeout 900

log "building the Release configuration"
"$here/build.sh" Release >/dev/null
log "running the unit tests (Release)"
ctest --test-dir "$root/build/release" --output-on-failure -j"$jobs" -L unit
log "all tests passed"
