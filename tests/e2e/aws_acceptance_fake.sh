#!/usr/bin/env bash
# Runs the AWS acceptance suite (aws_acceptance_test) against carrierarr-fake-aws on loopback, so
# the suite itself is exercised on every CI run; against a real account it runs the same way with
# CARRIERARR_AWS_ENDPOINT and credentials of your own (docs/providers/aws.md).
# Usage: aws_acceptance_fake.sh <carrierarr-fake-aws> <aws_acceptance_test>
set -euo pipefail
fake=$1
suite=$2
log=$(mktemp)
"$fake" --listen 127.0.0.1:0 >"$log" &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 200); do  # 10 s at most
  grep -q '^endpoint ' "$log" && break
  kill -0 "$pid" 2>/dev/null || { echo "carrierarr-fake-aws exited:"; cat "$log"; exit 1; }
  sleep 0.05
done
endpoint=$(sed -n 's/^endpoint //p' "$log")
[ -n "$endpoint" ] || { echo "carrierarr-fake-aws printed no endpoint"; exit 1; }
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_DEFAULT_REGION
export CARRIERARR_AWS_ENDPOINT=$endpoint
export AWS_ACCESS_KEY_ID=AKIDCARRIERARRTEST AWS_SECRET_ACCESS_KEY=carrierarr-test-secret
export AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
export AWS_SHARED_CREDENTIALS_FILE=/nonexistent AWS_CONFIG_FILE=/nonexistent
export CARRIERARR_AWS_POLL_MS=20
export CARRIERARR_ACCEPTANCE_MATERIAL=secretsmanager CARRIERARR_ACCEPTANCE_INSTANCE_PROFILE=carrierarr-node
"$suite"
