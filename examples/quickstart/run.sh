#!/usr/bin/env bash
# The quickstart: an app's live WAL-mode database, captured as LTX snapshots,
# inspected, verified, compacted and restored. Needs `ltxbus` on PATH
# (scripts/quickstart.sh arranges that) and the system sqlite3.
set -euo pipefail
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "An app writes to a WAL-mode database with the system SQLite ($(sqlite3 --version | cut -d' ' -f1))"
sqlite3 app.db <<'SQL'
PRAGMA journal_mode=WAL;
CREATE TABLE accounts(id INTEGER PRIMARY KEY, owner TEXT, balance INTEGER);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000)
INSERT INTO accounts SELECT i, 'owner-' || i, 100 FROM n;
SQL
echo "1000 accounts, total balance $(sqlite3 app.db 'SELECT sum(balance) FROM accounts')"

step "Snapshot the live database as an LTX file (TXID 1)"
ltxbus ltx encode-db app.db -o 1.ltx --txid 1

step "The app keeps writing; snapshot again (TXID 2)"
sqlite3 app.db "UPDATE accounts SET balance = balance - 10 WHERE id % 2 = 0;
                UPDATE accounts SET balance = balance + 10 WHERE id % 2 = 1;"
ltxbus ltx encode-db app.db -o 2.ltx --txid 2

step "Inspect a file"
ltxbus ltx dump 2.ltx >dump.txt
head -16 dump.txt

step "Verify both files"
ltxbus ltx verify 1.ltx 2.ltx

step "Compact them into one file"
ltxbus ltx compact -o compacted.ltx 1.ltx 2.ltx

step "Restore a database from the compacted file and check it"
ltxbus ltx apply -db restored.db compacted.ltx
echo "integrity: $(sqlite3 restored.db 'PRAGMA integrity_check')"
echo "restored total balance: $(sqlite3 restored.db 'SELECT sum(balance) FROM accounts')"
if [[ "$(sqlite3 app.db .dump)" == "$(sqlite3 restored.db .dump)" ]]; then
  echo "restored.db has exactly the app's data"
else
  echo "restored.db differs from app.db" >&2
  exit 1
fi
printf '\nQuickstart done. Next: ltxbus replicate app.db nats://HOST:PORT/LTX publishes every transaction (README); live followers come next.\n'
