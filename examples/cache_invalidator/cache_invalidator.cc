// A cache invalidator built on ltxbus's consumer API: it follows one
// database's transactions on the bus and prints, for each, which tables it
// changed, so that a cache keyed by table can drop exactly those entries.
//
//   ltxbus_cache_invalidator URL DB [--state-dir DIR] [--to-end]
//
// Page numbers become tables through a shadow copy of the database that the
// program keeps itself, by writing every transaction's pages into it (so it
// starts at the oldest snapshot on the bus): the mapping is then exactly the
// layout after each transaction, whatever the replicas are doing. The shadow
// copy and the acknowledged position live in DIR (default "."); a restart
// resumes after the acknowledged position. A transaction applied but not yet
// acknowledged when the program died is delivered, applied and printed again
// (at-least-once): harmless, since pages are whole images and invalidating
// twice is safe.
//
// One line per transaction on stdout:
//   txid=0000000000000007 offset=42 tables=items,orders
//   txid=0000000000000009 offset=51 tables=audit schema-changed
//   txid=0000000000000001 offset=1 snapshot tables=items,orders
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "base/env.h"
#include "bus/bus.h"
#include "bus/message.h"
#include "consumer/table_map.h"
#include "consumer/transaction_stream.h"

namespace {

using namespace ltxbus;

struct Args {
  std::string url, db, state_dir = ".";
  bool to_end = false;
};

constexpr char kUsage[] =
    "usage: ltxbus_cache_invalidator URL DB [--state-dir DIR] [--to-end]\n"
    "  Prints the tables each transaction of DB changed. --to-end stops at the newest\n"
    "  transaction on the bus instead of following; DIR keeps the shadow copy and position.\n";

std::optional<Args> ParseArgs(int argc, char** argv) {
  Args a;
  std::vector<std::string> positional;
  for (int i = 1; i < argc; i++) {
    const std::string arg = argv[i];
    if (arg == "--to-end") {
      a.to_end = true;
    } else if (arg == "--state-dir" && i + 1 < argc) {
      a.state_dir = argv[++i];
    } else if (arg.starts_with("-")) {
      return std::nullopt;
    } else {
      positional.push_back(arg);
    }
  }
  if (positional.size() != 2) return std::nullopt;
  a.url = positional[0];
  a.db = positional[1];
  return a;
}

// Writes a transaction's pages into the shadow copy and returns their numbers.
Result<std::vector<uint32_t>> ApplyPages(const consumer::Transaction& tx, DataFile& shadow) {
  std::vector<uint32_t> pages;
  const uint64_t page_size = tx.header().page_size;
  consumer::PageReader reader = tx.ReadPages();
  uint32_t pgno = 0;
  std::span<const uint8_t> data;
  for (;;) {
    LTXBUS_ASSIGN_OR_RETURN(bool more, reader.Next(&pgno, &data));
    if (!more) break;
    LTXBUS_RETURN_IF_ERROR(shadow.WriteAt((pgno - 1) * page_size, data));
    pages.push_back(pgno);
  }
  // Commit is the database size afterwards: a shrinking transaction drops pages.
  LTXBUS_RETURN_IF_ERROR(shadow.Truncate(tx.header().commit * page_size));
  // Durable before the position is acknowledged, so a restart never skips it.
  LTXBUS_RETURN_IF_ERROR(shadow.Sync());
  return pages;
}

Status Run(const Args& a) {
  Env* env = Env::Default();
  LTXBUS_RETURN_IF_ERROR(env->CreateDirs(a.state_dir));
  const std::string base = a.state_dir + "/" + bus::EscapeDatabaseName(a.db);
  const std::string shadow_path = base + ".shadow";
  auto positions = consumer::NewFilePositionStore(env, base + ".position");
  LTXBUS_ASSIGN_OR_RETURN(std::optional<consumer::Position> saved, positions->Load());

  consumer::StreamOptions options;
  options.positions = positions.get();
  options.stop = a.to_end ? consumer::StopAt::End() : consumer::StopAt::Never();
  if (saved && env->FileExists(shadow_path)) {
    options.start = consumer::StartAt::After(*saved);
  } else {
    // The shadow copy is built from the oldest snapshot the bus holds.
    options.start = consumer::StartAt::Beginning();
    if (env->FileExists(shadow_path)) LTXBUS_RETURN_IF_ERROR(env->RemoveFile(shadow_path));
  }
  LTXBUS_ASSIGN_OR_RETURN(bus::Endpoint endpoint, bus::Endpoint::Parse(a.url));
  LTXBUS_ASSIGN_OR_RETURN(std::unique_ptr<bus::Bus> bus, bus::Bus::Connect(endpoint));
  LTXBUS_ASSIGN_OR_RETURN(auto stream, consumer::TransactionStream::Open(*bus, a.db, options));
  LTXBUS_ASSIGN_OR_RETURN(std::unique_ptr<DataFile> shadow,
                          env->OpenDataFile(shadow_path, /*create=*/true));

  // Resuming: the layout before the next transaction, to tell schema changes.
  std::optional<consumer::TableMap> map;
  if (options.start.kind == consumer::StartAt::Kind::kAfter) {
    LTXBUS_ASSIGN_OR_RETURN(map, consumer::TableMap::Load(shadow_path, /*immutable=*/true));
  }
  while (!stream->finished()) {
    LTXBUS_ASSIGN_OR_RETURN(std::optional<consumer::Transaction> tx,
                            stream->Next(std::chrono::seconds(1)));
    if (!tx) continue;
    LTXBUS_ASSIGN_OR_RETURN(std::vector<uint32_t> pages, ApplyPages(*tx, *shadow));
    // Pages change tables only when page 1 changes; reload the map then.
    const uint32_t schema_before = map ? map->schema_version() : 0;
    if (!map || tx->snapshot() || consumer::TableMap::StaleAfter(pages)) {
      LTXBUS_ASSIGN_OR_RETURN(map, consumer::TableMap::Load(shadow_path, /*immutable=*/true));
    }
    std::string tables;
    for (const std::string& t : map->TablesOf(pages)) {
      if (t == "sqlite_schema") continue;  // reported as schema-changed instead
      tables += (tables.empty() ? "" : ",") + t;
    }
    const bool schema_changed = !tx->snapshot() && map->schema_version() != schema_before;
    std::printf("txid=%s offset=%llu%s tables=%s%s\n", ltx::FormatTXID(tx->txid()).c_str(),
                static_cast<unsigned long long>(tx->position().first_offset),
                tx->snapshot() ? " snapshot" : "", tables.c_str(),
                schema_changed ? " schema-changed" : "");
    std::fflush(stdout);
    LTXBUS_RETURN_IF_ERROR(stream->Ack(tx->position()));
  }
  return Status::OK();
}

}  // namespace

int main(int argc, char** argv) {
  std::optional<Args> args = ParseArgs(argc, argv);
  if (!args) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  // stdout is for the report; ltxbus logs (warnings and errors) go to stderr.
  spdlog::set_default_logger(spdlog::stderr_color_mt("cache_invalidator"));
  spdlog::set_level(spdlog::level::warn);
  Status s = Run(*args);
  if (!s.ok()) {
    std::fprintf(stderr, "ltxbus_cache_invalidator: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}
