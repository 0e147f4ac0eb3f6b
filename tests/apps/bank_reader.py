#!/usr/bin/env python3
"""A reader of a bank.py replica, on the system SQLite (Python's sqlite3
module), as any process on the host would read a live replica: read-only,
in a loop, each read one transaction.

  bank_reader.py REPLICA --stop-file PATH [--accounts N] [--initial N]
                 [--min-reads N] [--timeout S] [--check-every N]

Each read must see all `accounts` rows summing to accounts * initial (the
bank's invariant), and meta.seq must never go back (the replica never shows
an older state after a newer one). Every --check-every reads it runs
PRAGMA quick_check. Waits for the replica to appear, then reads until the
stop file exists and at least --min-reads reads were done. Prints one JSON
line: reads, violations, errors, distinct states seen, quick checks.
"""
import argparse
import json
import os
import sqlite3
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("replica")
    ap.add_argument("--stop-file", required=True)
    ap.add_argument("--accounts", type=int, default=1000)
    ap.add_argument("--initial", type=int, default=1000)
    ap.add_argument("--min-reads", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--check-every", type=int, default=2000)
    a = ap.parse_args()
    deadline = time.monotonic() + a.timeout
    want_total = a.accounts * a.initial
    out = {"reads": 0, "violations": 0, "errors": 0, "states": 0, "quick_checks": 0,
           "version": sqlite3.sqlite_version}
    seen = set()
    last_seq = -1
    con = None
    while time.monotonic() < deadline:
        if con is None:
            try:
                con = sqlite3.connect("file:%s?mode=ro" % a.replica, uri=True, timeout=10,
                                      isolation_level=None)
            except sqlite3.OperationalError:
                time.sleep(0.02)  # not created yet
                continue
        try:
            row = con.execute("SELECT (SELECT sum(balance) FROM accounts), "
                              "(SELECT count(*) FROM accounts), "
                              "(SELECT v FROM meta WHERE k = 'seq')").fetchone()
        except sqlite3.OperationalError as e:
            if "no such table" in str(e) and out["reads"] == 0:
                time.sleep(0.02)  # created, not bootstrapped yet
                continue
            out["errors"] += 1
            print("bank_reader: read failed: %s" % e, file=sys.stderr)
            continue
        except sqlite3.DatabaseError as e:
            out["violations"] += 1
            print("bank_reader: %s" % e, file=sys.stderr)
            continue
        out["reads"] += 1
        total, count, seq = row
        if total != want_total or count != a.accounts:
            out["violations"] += 1
            print("bank_reader: torn read at seq %s: %s rows, total %s" % (seq, count, total),
                  file=sys.stderr)
        if seq < last_seq:
            out["violations"] += 1
            print("bank_reader: went back from seq %d to %d" % (last_seq, seq), file=sys.stderr)
        last_seq = seq
        seen.add(seq)
        if a.check_every and out["reads"] % a.check_every == 0:
            check = con.execute("PRAGMA quick_check").fetchone()[0]
            out["quick_checks"] += 1
            if check != "ok":
                out["violations"] += 1
                print("bank_reader: quick_check: %s" % check, file=sys.stderr)
        if out["reads"] >= a.min_reads and os.path.exists(a.stop_file):
            break
    out["states"] = len(seen)
    print(json.dumps(out))
    sys.exit(0 if time.monotonic() < deadline else 3)


if __name__ == "__main__":
    main()
