#!/usr/bin/env bash
# The quickstart, on the embedded default (a local nats-server and a file
# archive): an app writes to its WAL-mode database; `ltxbus replicate`
# publishes every transaction to NATS JetStream; `ltxbus follow` keeps a live
# read replica that another process reads while it follows; `ltxbus archive`
# compacts the stream into a local directory, from which `ltxbus restore`
# rebuilds the database as it was before a bad migration.
# Needs `ltxbus` on PATH (scripts/quickstart.sh arranges that), nats-server
# and the system sqlite3.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  "$root/scripts/servers/nats.sh" stop "$work/nats" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
# Waits up to $1 seconds for the command after it to succeed.
wait_for() {
  local seconds="$1"
  shift
  for ((i = 0; i < seconds * 10; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "quickstart: timed out waiting for: $*" >&2
  return 1
}
total() { sqlite3 -readonly "$1" 'SELECT count(*) || " accounts, total " || sum(balance) FROM accounts'; }

step "A local nats-server with JetStream"
url="$("$root/scripts/servers/nats.sh" start "$work/nats" | sed -n 's/^NATS_URL=//p')"
bus="$url/LTX"
echo "$bus"

step "An app creates a WAL-mode database with the system SQLite ($(sqlite3 --version | cut -d' ' -f1))"
sqlite3 app.db >/dev/null <<'SQL'
PRAGMA journal_mode=WAL;
CREATE TABLE accounts(id INTEGER PRIMARY KEY, owner TEXT, balance INTEGER);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000)
INSERT INTO accounts SELECT i, 'owner-' || i, 100 FROM n;
SQL
echo "app.db: $(total app.db)"

step "ltxbus replicate: every committed transaction becomes one LTX frame on the bus"
ltxbus replicate app.db "$bus" 2>replicate.log &
pids+=($!)
wait_for 20 ltxbus sync app.db "$bus"
echo "the bus holds everything app.db committed"

step "ltxbus follow: a live read replica; ltxbus archive: the stream compacted into ./archive"
ltxbus follow "$bus" app.db -o replica.db 2>follow.log &
pids+=($!)
ltxbus archive "$bus" app.db "file://$work/archive" 2>archive.log &
pids+=($!)
wait_for 20 sqlite3 -readonly replica.db 'SELECT 1 FROM accounts LIMIT 1'
echo "replica.db: $(total replica.db)"

step "The app moves money in 300 transactions while another process reads the replica"
(
  for i in $(seq 1 300); do
    from=$((RANDOM % 1000 + 1)) to=$((RANDOM % 1000 + 1)) amount=$((RANDOM % 20 + 1))
    sqlite3 app.db "BEGIN IMMEDIATE;
      UPDATE accounts SET balance = balance - $amount WHERE id = $from;
      UPDATE accounts SET balance = balance + $amount WHERE id = $to;
      COMMIT;"
  done
) &
writer=$!
reads=0
while kill -0 "$writer" 2>/dev/null; do
  line="$(total replica.db)"
  [[ "$line" == "1000 accounts, total 100000" ]] || { echo "replica read: $line" >&2; exit 1; }
  reads=$((reads + 1))
  if ((reads % 25 == 1)); then
    echo "replica read $reads: $line"
    ltxbus status "$bus" app.db -o replica.db 2>/dev/null | sed 's/^/    /' || true
  fi
  sleep 0.02
done
wait "$writer"
wait_for 30 ltxbus sync app.db "$bus"
echo "$reads reads of the live replica, every one consistent (1000 accounts, total 100000)"
ltxbus status "$bus" app.db -o replica.db || true
if [[ "$(sqlite3 app.db .dump)" == "$(sqlite3 -readonly replica.db .dump)" ]]; then
  echo "replica.db has exactly the app's data"
else
  sleep 2
  [[ "$(sqlite3 app.db .dump)" == "$(sqlite3 -readonly replica.db .dump)" ]] ||
    { echo "replica.db differs from app.db" >&2; exit 1; }
  echo "replica.db has exactly the app's data"
fi

step "A point in time, then a bad migration"
sleep 2  # let the archiver upload what is committed (sync-interval 1 s)
before="$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)"
sqlite3 app.db .dump >before.sql
echo "point in time: $before"
sleep 2
sqlite3 app.db "DELETE FROM accounts WHERE id > 500"
echo "app.db after the migration: $(total app.db)"
wait_for 30 ltxbus sync app.db "$bus"
sleep 2

step "ltxbus restore: the database as it was at $before"
ltxbus restore -o restored.db -timestamp "$before" -integrity-check "file://$work/archive"
echo "restored.db: $(total restored.db)"
if [[ "$(cat before.sql)" == "$(sqlite3 restored.db .dump)" ]]; then
  echo "restored.db equals app.db as it was at $before"
else
  echo "restored.db differs from app.db at $before" >&2
  exit 1
fi
ltxbus verify -q "file://$work/archive" && echo "ltxbus verify: the archive is sound"

printf '\nQuickstart done. docs/follower.md, docs/archive.md and README.md show the Kafka, S3 and config-file forms.\n'
