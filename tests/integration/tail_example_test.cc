// examples/cache_invalidator against a live stream: a scripted workload
// whose transactions each touch known tables, published by the real
// producer; the example must report exactly those tables, resume after its
// acknowledged position, and `ltxbus tail -replica -table` must select the
// same transactions.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <set>

#include "tests/integration/tail_support.h"

namespace ltxbus::tail_test {
namespace {

using namespace std::chrono_literals;

// Runs each inner list of statements as one transaction, through the system
// SQLite (Python's sqlite3 module).
constexpr char kScript[] = R"(
import json, sqlite3, sys
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("PRAGMA journal_mode=WAL")
for statements in json.loads(sys.argv[2]):
    con.execute("BEGIN IMMEDIATE")
    for s in statements:
        con.execute(s)
    con.execute("COMMIT")
con.close()
)";

void RunTransactions(const std::string& db, const std::vector<std::vector<std::string>>& txs) {
  auto r = RunCommand({"python3", "-c", kScript, db, nlohmann::json(txs).dump()}, 120s);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->exit_code, 0) << r->error_output;
}

// "txid=... offset=... [snapshot] tables=a,b [schema-changed]" by TXID.
std::map<std::string, std::string> ParseReport(const std::string& out) {
  std::map<std::string, std::string> by_txid;
  size_t pos = 0;
  while (pos < out.size()) {
    size_t end = out.find('\n', pos);
    if (end == std::string::npos) end = out.size();
    const std::string line = out.substr(pos, end - pos);
    pos = end + 1;
    EXPECT_EQ(line.rfind("txid=", 0), 0u) << line;
    const std::string txid = line.substr(5, 16);
    std::string rest = line.substr(line.find(' ', 22) + 1);  // after "offset=N "
    by_txid[txid] = rest;
  }
  return by_txid;
}

TEST_P(TailTest, ExampleReportsTheTablesEachTransactionTouched) {
  testing::TempDir dir;
  const std::string db = dir.Join("shop.db");
  const std::string url = NewUrl("shop");
  RunTransactions(db, {{"CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT)",
                        "CREATE TABLE orders(id INTEGER PRIMARY KEY, customer INT, total INT)",
                        "CREATE INDEX orders_customer ON orders(customer)",
                        "CREATE TABLE items(id INTEGER PRIMARY KEY, order_id INT, sku TEXT, data)",
                        "INSERT INTO customers(name) VALUES ('zed')"}});
  ASSERT_FALSE(HasFatalFailure());
  auto producer = StartProducer(db, url, dir.path());
  ASSERT_TRUE(producer.ok());
  const auto start = WaitForSource(url, "shop.db", db);
  ASSERT_EQ(start.size(), 1u) << "the producer's first frame is a snapshot";
  const ltx::TXID base = start[0].txid;

  // Each transaction, and the tables it must be reported to touch.
  const std::vector<std::pair<std::vector<std::string>, std::string>> script = {
      {{"INSERT INTO customers(name) VALUES ('ann')"}, "tables=customers"},
      {{"INSERT INTO orders(customer, total) VALUES (1, 10)"}, "tables=orders"},
      {{"UPDATE customers SET name = 'bob' WHERE id = 1",
        "INSERT INTO items(order_id, sku) VALUES (1, 'x')"},
       "tables=customers,items"},
      {{"DELETE FROM orders WHERE id = 1"}, "tables=orders"},
      {{"CREATE TABLE audit(at, what)", "INSERT INTO audit VALUES (1, 'x')"},
       "tables=audit schema-changed"},
      {{"INSERT INTO items(order_id, sku, data) VALUES (2, 'big', randomblob(20000))"},
       "tables=items"},
      {{"DROP TABLE audit"}, "tables= schema-changed"},
  };
  std::vector<std::vector<std::string>> txs;
  for (const auto& [statements, _] : script) txs.push_back(statements);
  RunTransactions(db, txs);
  const auto frames = WaitForSource(url, "shop.db", db);
  ASSERT_EQ(frames.size(), 1 + script.size()) << "one frame per transaction";

  const std::string example =
      (std::filesystem::path(testing::LtxbusBinary()).parent_path() / "ltxbus_cache_invalidator")
          .string();
  const std::string state = dir.Join("state");
  auto run = [&] {
    auto r = RunCommand({example, url, "shop.db", "--state-dir", state, "--to-end"}, 120s);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok()) return std::map<std::string, std::string>();
    EXPECT_EQ(r->exit_code, 0) << r->error_output;
    return ParseReport(r->output);
  };
  auto report = run();
  ASSERT_EQ(report.size(), 1 + script.size());
  EXPECT_EQ(report[Hex(base)], "snapshot tables=customers,items,orders");
  for (size_t i = 0; i < script.size(); i++) {
    EXPECT_EQ(report[Hex(base + 1 + i)], script[i].second)
        << "transaction " << i << ": " << nlohmann::json(script[i].first).dump();
  }

  // Restarted, it resumes after its acknowledged position: nothing again,
  // then only what is new.
  EXPECT_TRUE(run().empty());
  RunTransactions(db, {{"INSERT INTO orders(customer, total) VALUES (2, 20)"}});
  WaitForSource(url, "shop.db", db);
  auto more = run();
  ASSERT_EQ(more.size(), 1u);
  EXPECT_EQ(more[Hex(base + 1 + script.size())], "tables=orders");

  // The same mapping through a replica's schema selects the transactions
  // that touched a table (the source is the replica here; its layout holds).
  auto orders = Tail(url, "shop.db",
                     {"-from-txid", Hex(base + 1), "-to-txid", Hex(base + script.size()),
                      "-replica", db, "-table", "orders"});
  ASSERT_EQ(orders.exit_code, 0) << orders.error_output;
  std::set<std::string> selected;
  size_t pos = 0;
  while (pos < orders.output.size()) {
    size_t end = orders.output.find('\n', pos);
    auto j = nlohmann::json::parse(orders.output.substr(pos, end - pos));
    pos = end + 1;
    EXPECT_EQ(SchemaErrors(j), "");
    const auto tables = j["tables"].get<std::vector<std::string>>();
    EXPECT_NE(std::find(tables.begin(), tables.end(), "orders"), tables.end()) << j.dump();
    selected.insert(j["txid"].get<std::string>());
  }
  EXPECT_EQ(selected, (std::set<std::string>{Hex(base + 2), Hex(base + 4)}));
  StopProducer(*producer);
}

}  // namespace
}  // namespace ltxbus::tail_test
