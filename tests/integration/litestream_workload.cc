#include "tests/integration/litestream_workload.h"

#include <fmt/format.h>

namespace ltxbus::testing {

std::string WalSchemaSql() {
  return "PRAGMA journal_mode=WAL;"
         "CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT, qty INTEGER, payload BLOB);"
         "CREATE TABLE bulk(id INTEGER PRIMARY KEY, data BLOB);";
}

std::string WriterScript() {
  // A fixed seed keeps the shape of the run the same each time; timing still
  // decides how transactions group into Litestream's L0 files.
  return R"PY(
import random, sqlite3, sys, time

path, duration = sys.argv[1], float(sys.argv[2])
rnd = random.Random(20240601)
con = sqlite3.connect(path, timeout=5.0, isolation_level=None)
con.execute("PRAGMA busy_timeout=5000")
mode = con.execute("PRAGMA journal_mode").fetchone()[0]
if mode != "wal":
    sys.exit("journal_mode is %s, not wal" % mode)

def text(n):
    return "".join(rnd.choice("abcdefghij ") for _ in range(n))

def payload(n):
    # Half text (compressible), half random bytes.
    return text(n // 2).encode() + rnd.randbytes(n - n // 2)

ids = []
txns = 0
indexed = vacuumed = False
start = time.monotonic()
while True:
    t = (time.monotonic() - start) / duration
    if t >= 1:
        break
    vacuum_now = False
    con.execute("BEGIN IMMEDIATE")
    if t < 0.3:
        # Inserts; some rows span several pages (overflow chains).
        for _ in range(rnd.randint(1, 4)):
            size = rnd.choice([40, 200, 900, 6000, 13000])
            cur = con.execute("INSERT INTO items(name, qty, payload) VALUES(?, ?, ?)",
                              (text(20), rnd.randint(0, 1000), payload(size)))
            ids.append(cur.lastrowid)
    elif t < 0.55:
        if not indexed:
            con.execute("CREATE INDEX items_name ON items(name)")
            indexed = True
        for _ in range(3):
            con.execute("UPDATE items SET qty = qty + 1, name = ? WHERE id = ?",
                        (text(24), rnd.choice(ids)))
        if len(ids) > 10 and rnd.random() < 0.5:
            con.execute("DELETE FROM items WHERE id = ?", (ids.pop(rnd.randrange(len(ids))),))
        cur = con.execute("INSERT INTO items(name, qty, payload) VALUES(?, ?, ?)",
                          (text(10), 1, payload(rnd.choice([100, 5000]))))
        ids.append(cur.lastrowid)
    elif t < 0.7:
        # Growth: big rows in a second table.
        for _ in range(4):
            con.execute("INSERT INTO bulk(data) VALUES(?)", (payload(16000),))
    elif not vacuumed:
        # Shrink: free most pages, then VACUUM (outside the transaction).
        con.execute("DELETE FROM bulk")
        con.execute("DELETE FROM items WHERE id % 3 = 0")
        ids = [i for i in ids if i % 3 != 0]
        vacuum_now = True
    else:
        con.execute("UPDATE items SET payload = ? WHERE id = ?",
                    (payload(rnd.choice([300, 7000])), rnd.choice(ids)))
        cur = con.execute("INSERT INTO items(name, qty, payload) VALUES(?, ?, ?)",
                          (text(12), 2, payload(150)))
        ids.append(cur.lastrowid)
    con.execute("COMMIT")
    txns += 1
    if vacuum_now:
        con.execute("VACUUM")
        vacuumed = True
        txns += 1
    time.sleep(rnd.uniform(0.02, 0.12))

if not (indexed and vacuumed):
    sys.exit("run too short: indexed=%s vacuumed=%s" % (indexed, vacuumed))
if con.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
    sys.exit("integrity_check failed")
pages = con.execute("PRAGMA page_count").fetchone()[0]
con.close()
print("ok", txns, pages)
)PY";
}

std::string ReplicateConfig(const std::string& db_path, const std::string& replica_dir) {
  return fmt::format(
      "l0-retention: 1h\n"
      "levels:\n"
      "  - interval: 3s\n"
      "snapshot:\n"
      "  interval: 8s\n"
      "  retention: 1h\n"
      "dbs:\n"
      "  - path: {}\n"
      "    monitor-interval: 100ms\n"
      "    replica:\n"
      "      type: file\n"
      "      path: {}\n"
      "      sync-interval: 200ms\n",
      db_path, replica_dir);
}

std::vector<std::string> ReplicateConfigEvidence() {
  return {"sync-interval=200ms", "retention=1h0m0s", "level=1 interval=3s", "level=9 interval=8s"};
}

std::vector<std::string> ArchiveTransactions() {
  return {
      // 1: schema and rows; rollback journal, so the file is the state.
      "PRAGMA page_size=4096; PRAGMA journal_mode=DELETE;"
      "CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT, qty INTEGER, payload BLOB);"
      "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 40)"
      " INSERT INTO items(name, qty, payload) SELECT 'item ' || i, i, randomblob(100) FROM n;",
      // 2: rows larger than a page (overflow chains).
      "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 12)"
      " INSERT INTO items(name, qty, payload) SELECT 'big ' || i, i, randomblob(9000) FROM n;",
      // 3: an index and more rows.
      "CREATE INDEX items_name ON items(name);"
      "INSERT INTO items(name, qty, payload) VALUES('x', 1, zeroblob(5000)), ('y', 2, 'small');",
      // 4: updates in place.
      "UPDATE items SET qty = qty * 2, name = name || ' v2' WHERE id % 2 = 0;",
      // 5: growth.
      "CREATE TABLE bulk(id INTEGER PRIMARY KEY, data BLOB);"
      "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 60)"
      " INSERT INTO bulk(data) SELECT randomblob(8000) FROM n;",
      // 6: shrink.
      "DELETE FROM bulk WHERE id > 10; DELETE FROM items WHERE id % 5 = 0; VACUUM;",
      // 7: inserts and updates after the VACUUM.
      "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 30)"
      " INSERT INTO items(name, qty, payload) SELECT 'late ' || i, i, randomblob(300) FROM n;"
      "UPDATE items SET payload = randomblob(4500) WHERE id = 3;",
      // 8: growth again.
      "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 40)"
      " INSERT INTO bulk(data) SELECT randomblob(6000) FROM n;",
      // 9: shrink again.
      "DELETE FROM bulk; VACUUM;",
      // 10: a final mixed transaction.
      "BEGIN; UPDATE items SET name = upper(name) WHERE id < 30;"
      " DELETE FROM items WHERE id > 80; COMMIT;",
  };
}

}  // namespace ltxbus::testing
