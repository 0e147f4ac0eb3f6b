#!/usr/bin/env python3
"""A test "app" that moves money among accounts in random transactions, on the
system SQLite (Python's sqlite3 module), in WAL mode, as a real app would.

  bank.py DB [--create] [--accounts N] [--initial N] [--seed N]
             [--transactions N] [--rate N] [--grow-every N] [--shrink-every N]
             [--vacuum-every N] [--schema-every N]

The invariant readers check: SUM(balance) over `accounts` is always
accounts * initial and there are always `accounts` rows. Every transaction
also bumps meta.seq, so readers can tell states apart. Mixed in: growth
(blob rows in `filler`), deletes, a schema change (an index created and
dropped), and DELETE + VACUUM, which shrinks the file.

--transactions 0 runs until killed. --rate limits transactions per second.
Prints the number of committed transactions.
"""
import argparse
import random
import sqlite3
import time


def create(con, accounts, initial, rng):
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("BEGIN IMMEDIATE")
    con.execute("CREATE TABLE accounts(id INTEGER PRIMARY KEY, owner TEXT, balance INTEGER)")
    con.execute("CREATE TABLE meta(k TEXT PRIMARY KEY, v INTEGER)")
    con.execute("CREATE TABLE filler(id INTEGER PRIMARY KEY, data BLOB)")
    con.execute("INSERT INTO meta VALUES('seq', 0)")
    # Owners of ~100 bytes spread the accounts over dozens of pages.
    con.executemany("INSERT INTO accounts VALUES(?, ?, ?)",
                    ((i, "owner-%d-" % i + "x" * rng.randint(60, 120), initial)
                     for i in range(1, accounts + 1)))
    con.execute("COMMIT")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("db")
    ap.add_argument("--create", action="store_true")
    ap.add_argument("--accounts", type=int, default=1000)
    ap.add_argument("--initial", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--transactions", type=int, default=100)
    ap.add_argument("--rate", type=float, default=0)
    ap.add_argument("--grow-every", type=int, default=20)
    ap.add_argument("--shrink-every", type=int, default=45)
    ap.add_argument("--vacuum-every", type=int, default=150)
    ap.add_argument("--schema-every", type=int, default=70)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    con = sqlite3.connect(a.db, timeout=30, isolation_level=None)
    con.execute("PRAGMA busy_timeout=30000")
    if a.create:
        create(con, a.accounts, a.initial, rng)
    n = con.execute("SELECT count(*) FROM accounts").fetchone()[0]
    committed = 0
    start = time.monotonic()
    i = 0
    while a.transactions == 0 or i < a.transactions:
        i += 1
        if a.rate > 0:
            ahead = i / a.rate - (time.monotonic() - start)
            if ahead > 0:
                time.sleep(ahead)
        con.execute("BEGIN IMMEDIATE")
        for _ in range(rng.randint(1, 4)):
            src, dst = rng.sample(range(1, n + 1), 2)
            amount = rng.randint(1, 100)
            con.execute("UPDATE accounts SET balance = balance - ? WHERE id = ?", (amount, src))
            con.execute("UPDATE accounts SET balance = balance + ? WHERE id = ?", (amount, dst))
        if a.grow_every and i % a.grow_every == 0:
            con.executemany("INSERT INTO filler(data) VALUES(randomblob(?))",
                            ((rng.randint(500, 4000),) for _ in range(rng.randint(10, 40))))
        if a.shrink_every and i % a.shrink_every == 0:
            con.execute("DELETE FROM filler WHERE id IN "
                        "(SELECT id FROM filler ORDER BY random() LIMIT ?)", (rng.randint(5, 30),))
        if a.schema_every and i % a.schema_every == 0:
            if con.execute("SELECT count(*) FROM sqlite_master WHERE name='by_balance'").fetchone()[0]:
                con.execute("DROP INDEX by_balance")
            else:
                con.execute("CREATE INDEX by_balance ON accounts(balance)")
        con.execute("UPDATE meta SET v = v + 1 WHERE k = 'seq'")
        con.execute("COMMIT")
        committed += 1
        if a.vacuum_every and i % a.vacuum_every == 0:
            con.execute("DELETE FROM filler WHERE id % 3 != 0")
            con.execute("VACUUM")
            committed += 2
    total, count = con.execute("SELECT sum(balance), count(*) FROM accounts").fetchone()
    if count != n or total != n * a.initial:
        raise SystemExit("bank.py: the invariant broke on the primary: %d rows, total %d" % (count, total))
    con.close()
    print(committed)


if __name__ == "__main__":
    main()
