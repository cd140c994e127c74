#!/usr/bin/env bash
# Fails unless `systemd-analyze security` rates the shipped service at most 1.5.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
limit=1.5
report=$(systemd-analyze security --offline=yes "$here/milvus-connd.service" 2>&1)
score=$(printf '%s\n' "$report" | sed -n 's/.*Overall exposure level for milvus-connd.service: \([0-9.]*\).*/\1/p')
if [ -z "$score" ]; then
  printf '%s\n' "$report" >&2
  echo "check-security: no exposure level in the report" >&2
  exit 1
fi
echo "systemd-analyze security: milvus-connd.service exposure $score (limit $limit)"
awk -v s="$score" -v l="$limit" 'BEGIN { exit !(s <= l) }'
