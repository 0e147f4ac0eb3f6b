#!/usr/bin/env bash
# A throwaway moto S3 server on 127.0.0.1 that checks SigV4 signatures.
#   moto.sh start DIR [--owner PID [--cleanup]]   prints S3_ENDPOINT, S3_REGION, S3_ACCESS_KEY, S3_SECRET_KEY
#   moto.sh stop DIR
#
# moto accepts any signature by default. With INITIAL_NO_AUTH_ACTION_COUNT=4
# the first four authenticated actions skip the check; we spend them creating
# an IAM user with an allow-all policy and an access key, and from then on
# every request must be signed with that key. Do not call /moto-api/reset
# (it drops the IAM user) or /moto-api/reset-auth (it turns checking off).
set -euo pipefail
# shellcheck source=scripts/servers/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

setup_auth='
import json, sys
import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

endpoint, out = sys.argv[1], sys.argv[2]
cfg = Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=10)
def client(service, key, secret):
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id=key, aws_secret_access_key=secret, config=cfg)

# Exactly INITIAL_NO_AUTH_ACTION_COUNT (4) unauthenticated actions.
iam = client("iam", "bootstrap", "bootstrap")
iam.create_user(UserName="ltxbus")
policy = json.dumps({"Version": "2012-10-17",
                     "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
arn = iam.create_policy(PolicyName="ltxbus-allow-all", PolicyDocument=policy)["Policy"]["Arn"]
iam.attach_user_policy(UserName="ltxbus", PolicyArn=arn)
key = iam.create_access_key(UserName="ltxbus")["AccessKey"]
key_id, secret = key["AccessKeyId"], key["SecretAccessKey"]

# Prove that checking is on: a wrong secret must be refused, the right one accepted.
try:
    client("s3", key_id, secret + "x").list_buckets()
    sys.exit("moto accepted a wrong secret: signature checking is off")
except ClientError as e:
    if e.response["ResponseMetadata"]["HTTPStatusCode"] != 403:
        raise
client("s3", key_id, secret).list_buckets()

with open(out, "w") as f:
    f.write(f"S3_ENDPOINT={endpoint}\nS3_REGION=us-east-1\n"
            f"S3_ACCESS_KEY={key_id}\nS3_SECRET_KEY={secret}\nS3_FORCE_PATH_STYLE=true\n")
'

srv_launch() {
  local dir="$1" venv port
  venv="$(ltxbus_tools_dir)/venv"
  [[ -x "$venv/bin/moto_server" ]] || srv_missing "moto ($venv/bin/moto_server)"
  port="$(free_port)"
  # TMPDIR: moto spools large objects to temp files; keep them inside DIR.
  mkdir -p "$dir/tmp"
  srv_spawn "$dir" env INITIAL_NO_AUTH_ACTION_COUNT=4 TMPDIR="$dir/tmp" \
    "$venv/bin/moto_server" -H 127.0.0.1 -p "$port"
  srv_wait_port "$dir" "$port" 30 || return 1
  AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null timeout 60 \
    "$venv/bin/python" -c "$setup_auth" "http://127.0.0.1:$port" "$dir/env.new" \
    >>"$dir/server.log" 2>&1 || return 1
}

srv_main "${BASH_SOURCE[0]}" "$@"
