#!/usr/bin/env bash
# A throwaway versitygw S3 gateway (posix backend) on 127.0.0.1, with random
# root keys; objects are plain files under DIR/data.
#   versitygw.sh start DIR [--owner PID [--cleanup]]   prints S3_ENDPOINT, S3_REGION, S3_ACCESS_KEY, S3_SECRET_KEY
#   versitygw.sh stop DIR
set -euo pipefail
# shellcheck source=scripts/servers/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

srv_launch() {
  local dir="$1" bin port access secret
  bin="$(ltxbus_tools_dir)/bin/versitygw"
  [[ -x "$bin" ]] || srv_missing "versitygw ($bin)"
  port="$(free_port)"
  access="ltxbus$(srv_random_hex 6)"
  secret="$(srv_random_hex 20)"
  # --sidecar keeps object metadata in files, so DIR need not support xattrs.
  mkdir -p "$dir/data" "$dir/iam" "$dir/sidecar"
  srv_spawn "$dir" env ROOT_ACCESS_KEY="$access" ROOT_SECRET_KEY="$secret" \
    "$bin" --port "127.0.0.1:$port" --region us-east-1 --iam-dir "$dir/iam" --health /healthz \
    posix --sidecar "$dir/sidecar" "$dir/data"
  srv_wait_port "$dir" "$port" 30 || return 1
  srv_wait_http "$dir" "http://127.0.0.1:$port/healthz" 30 || return 1
  printf 'S3_ENDPOINT=http://127.0.0.1:%s\nS3_REGION=us-east-1\nS3_ACCESS_KEY=%s\nS3_SECRET_KEY=%s\nS3_FORCE_PATH_STYLE=true\n' \
    "$port" "$access" "$secret" >"$dir/env.new"
}

srv_main "${BASH_SOURCE[0]}" "$@"
