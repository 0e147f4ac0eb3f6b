#!/usr/bin/env bash
# README command 1: installs everything, builds ltxbus (Release) and runs the
# quickstart in examples/quickstart/.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
"$here/install-deps.sh"
bin="$("$here/build.sh" Release | tail -1)/bin"
PATH="$bin:$PATH" exec "$root/examples/quickstart/run.sh"
