#!/usr/bin/env python3
"""A test "app": random transactions against a WAL-mode SQLite database,
through the system SQLite (Python's sqlite3 module), as a real app would.

  workload.py DB --seed N --transactions N [--big-every N] [--big-bytes N]
              [--checkpoint-every N] [--vacuum-every N] [--create]
              [--progress FILE] [--stop-file FILE] [--pause-ms N] [--busy-timeout-ms N]

Each transaction is one of: inserts, updates, deletes, a multi-page blob, a
schema change; every --vacuum-every transactions a DELETE + VACUUM shrinks the
file; every --checkpoint-every transactions the app itself checkpoints with a
random mode (PASSIVE, FULL, RESTART, TRUNCATE), which a producer's pin makes
partial or busy. Prints the number of committed transactions.

--progress FILE keeps "COMMITTED LONGEST_MS" in FILE, rewritten in place
after every commit: the transactions committed so far and the longest time
one took from BEGIN IMMEDIATE to COMMIT (lock waits included), so a test can
watch the app while it runs. --stop-file FILE ends the run early, cleanly,
once FILE exists (checked before each transaction). --pause-ms N sleeps N ms
between transactions. --busy-timeout-ms N (default 30000) is how long the app
waits for a lock before it fails with "database is locked".
"""
import argparse
import os
import random
import sqlite3
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("db")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--transactions", type=int, default=100)
    ap.add_argument("--big-every", type=int, default=0)
    ap.add_argument("--big-bytes", type=int, default=1 << 20)
    ap.add_argument("--checkpoint-every", type=int, default=0)
    ap.add_argument("--vacuum-every", type=int, default=0)
    ap.add_argument("--create", action="store_true")
    ap.add_argument("--progress")
    ap.add_argument("--stop-file")
    ap.add_argument("--pause-ms", type=int, default=0)
    ap.add_argument("--busy-timeout-ms", type=int, default=30000)
    a = ap.parse_args()
    progress = os.open(a.progress, os.O_WRONLY | os.O_CREAT, 0o644) if a.progress else None

    longest = 0.0

    def report(n):
        # Fixed width, written at offset 0, so the file never holds a mix of
        # a longer old line and a shorter new one.
        if progress is not None:
            os.pwrite(progress, b"%12d %10d\n" % (n, int(longest * 1000)), 0)

    rng = random.Random(a.seed)
    con = sqlite3.connect(a.db, timeout=a.busy_timeout_ms / 1000, isolation_level=None)
    con.execute(f"PRAGMA busy_timeout={a.busy_timeout_ms}")
    if a.create:
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("CREATE TABLE IF NOT EXISTS items(id INTEGER PRIMARY KEY, name TEXT, qty INT, data BLOB)")
        con.execute("CREATE INDEX IF NOT EXISTS items_name ON items(name)")
    committed = 0
    for i in range(1, a.transactions + 1):
        if a.stop_file and os.path.exists(a.stop_file):
            break
        if a.pause_ms:
            time.sleep(a.pause_ms / 1000)
        began = time.monotonic()
        con.execute("BEGIN IMMEDIATE")
        kind = rng.random()
        if a.big_every and i % a.big_every == 0:
            con.execute("INSERT INTO items(name, qty, data) VALUES(?, ?, randomblob(?))",
                        (f"big-{i}", i, a.big_bytes))
        elif kind < 0.45:
            for _ in range(rng.randint(1, 20)):
                con.execute("INSERT INTO items(name, qty, data) VALUES(?, ?, randomblob(?))",
                            (f"n{rng.randint(0, 10**6)}", rng.randint(0, 100), rng.randint(0, 3000)))
        elif kind < 0.7:
            con.execute("UPDATE items SET qty = qty + 1, name = name || 'x' WHERE id % ? = 0",
                        (rng.randint(2, 9),))
        elif kind < 0.9:
            con.execute("DELETE FROM items WHERE id IN (SELECT id FROM items ORDER BY random() LIMIT ?)",
                        (rng.randint(1, 15),))
        elif kind < 0.95:
            con.execute("INSERT INTO items(name, qty, data) VALUES('multi', 0, randomblob(?))",
                        (rng.randint(5000, 60000),))
        else:
            t = f"t{i}"
            con.execute(f"CREATE TABLE IF NOT EXISTS {t}(a, b)")  # a rerun may meet it
            con.execute(f"INSERT INTO {t} VALUES(1, randomblob(100))")
            if rng.random() < 0.5:
                con.execute(f"DROP TABLE {t}")
        con.execute("COMMIT")
        longest = max(longest, time.monotonic() - began)
        committed += 1
        if a.vacuum_every and i % a.vacuum_every == 0:
            con.execute("DELETE FROM items WHERE id % 2 = 0")
            committed += 1
            con.execute("VACUUM")
            committed += 1
        report(committed)
        if a.checkpoint_every and i % a.checkpoint_every == 0:
            mode = rng.choice(["PASSIVE", "FULL", "RESTART", "TRUNCATE"])
            # A blocking checkpoint waits (holding the write lock) for readers
            # such as a producer's pin; apps that run them keep the wait short.
            con.execute("PRAGMA busy_timeout=200")
            try:
                con.execute(f"PRAGMA wal_checkpoint({mode})").fetchall()
            except sqlite3.OperationalError:
                pass  # busy: the producer's pin holds the WAL
            con.execute(f"PRAGMA busy_timeout={a.busy_timeout_ms}")
    con.close()
    if progress is not None:
        os.close(progress)
    print(committed)


if __name__ == "__main__":
    main()
