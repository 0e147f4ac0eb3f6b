// Consumer throughput on the real buses: how fast a database's stream is read
// back through the consumer API (consumer/transaction_stream.h) and through
// `ltxbus tail -format json`, on nats-server and Kafka, in transactions/s and
// MB/s of LTX bytes. Not a Google Benchmark: it needs servers, which it
// starts itself (tests/support/testbed.h) or takes from LTXBUS_TESTBED_DIR.
//
//   consumer_bench [--small N] [--large N] [--rounds R]
//
// Two synthetic workloads are published first, each its own database: "small"
// transactions (4 pages of 4 KiB each) and "large" ones (256 pages, 1 MiB of
// page data, several bus messages each). Reading then starts at the
// beginning and stops at the newest frame; each figure is the best of R
// rounds. The API figures include verifying every frame (a full decode) and
// iterating its pages (a second decode); "API, no verify" iterates pages only.
// The CLI figures are whole `ltxbus tail` runs: process start, connecting and
// resolving positions included. Nothing is asserted.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "base/process.h"
#include "bus/bus.h"
#include "consumer/transaction_stream.h"
#include "ltx/checksum.h"
#include "tests/support/ltx_builder.h"
#include "tests/support/testbed.h"

namespace ltxbus {
namespace {

using Clock = std::chrono::steady_clock;
using testing::ServerKind;

struct Workload {
  std::string name;
  int transactions;
  uint32_t pages_per_tx;
};

// A chain of LTX files with database checksums: a 256-page snapshot, then
// transactions that rewrite `pages` pages each.
std::vector<std::string> MakeStream(int transactions, uint32_t pages, uint32_t seed) {
  const uint32_t page_size = 4096;
  const uint32_t db_pages = std::max<uint32_t>(256, pages);
  testing::Pages db;
  for (uint32_t p = 1; p <= db_pages; p++) db[p] = testing::MakePage(page_size, seed + p);
  ltx::Header h;
  h.flags = 0;
  h.page_size = page_size;
  h.commit = db_pages;
  h.min_txid = h.max_txid = 1;
  h.timestamp_ms = 1'800'000'000'000;
  std::vector<std::string> files = {testing::EncodeLtx(h, db, testing::ChecksumOf(db))};
  ltx::DatabaseChecksum sum(testing::ChecksumOf(db));
  for (int i = 1; i <= transactions; i++) {
    testing::Pages changed;
    const ltx::Checksum pre = sum.Value();
    for (uint32_t k = 0; k < pages; k++) {
      const uint32_t pgno = 1 + (static_cast<uint32_t>(i) * 7919u + k * 104729u) % db_pages;
      changed[pgno] = testing::MakePage(page_size, seed + static_cast<uint32_t>(i) * 1000 + k);
    }
    for (auto& [pgno, data] : changed) {
      sum.Remove(ltx::PageChecksum(pgno, db[pgno]));
      sum.Add(ltx::PageChecksum(pgno, data));
      db[pgno] = data;
    }
    ltx::Header th = h;
    th.min_txid = th.max_txid = static_cast<ltx::TXID>(i + 1);
    th.timestamp_ms = h.timestamp_ms + i;
    th.pre_apply_checksum = pre;
    files.push_back(testing::EncodeLtx(th, changed, sum.Value()));
  }
  return files;
}

Result<uint64_t> Publish(bus::Bus& bus, const std::string& db,
                         const std::vector<std::string>& files) {
  bus::PublisherOptions po;
  po.producer = "bench/1/1";
  LTXBUS_ASSIGN_OR_RETURN(auto pub, bus.NewPublisher(db, po));
  LTXBUS_RETURN_IF_ERROR(pub->Open().status());
  uint64_t bytes = 0;
  for (const std::string& f : files) {
    auto h = ltx::Header::Decode(
        std::span<const uint8_t, ltx::kHeaderSize>(AsBytes(f).first<ltx::kHeaderSize>()));
    LTXBUS_RETURN_IF_ERROR(h.status());
    bus::FrameId id;
    id.database = db;
    id.min_txid = h->min_txid;
    id.max_txid = h->max_txid;
    id.timestamp_ms = h->timestamp_ms;
    id.pre_apply = h->pre_apply_checksum;
    bus::FrameTrailer t;
    t.frame_size = f.size();
    for (size_t i = f.size() - ltx::kTrailerSize; i < f.size() - 8; i++) {
      t.post_apply = (t.post_apply << 8) | static_cast<uint8_t>(f[i]);
    }
    LTXBUS_ASSIGN_OR_RETURN(auto w, pub->BeginFrame(id));
    LTXBUS_RETURN_IF_ERROR(w->Append(AsBytes(f)));
    LTXBUS_RETURN_IF_ERROR(w->Commit(t).status());
    bytes += f.size();
  }
  return bytes;
}

struct Timing {
  double open = 0;   // TransactionStream::Open: bounds, positions, subscribing
  double total = 0;  // open, then reading to the end
};

// Reads the whole stream.
Result<Timing> ReadWithApi(bus::Bus& bus, const std::string& db, bool verify, size_t want) {
  const auto start = Clock::now();
  consumer::StreamOptions o;
  o.start = consumer::StartAt::Beginning();
  o.stop = consumer::StopAt::End();
  o.verify = verify;
  LTXBUS_ASSIGN_OR_RETURN(auto stream, consumer::TransactionStream::Open(bus, db, o));
  const auto opened = Clock::now();
  size_t n = 0;
  uint64_t checksum = 0;
  while (!stream->finished()) {
    LTXBUS_ASSIGN_OR_RETURN(std::optional<consumer::Transaction> tx,
                            stream->Next(std::chrono::seconds(10)));
    if (!tx) return Status::Timeout("the stream stalled after {} transactions", n);
    consumer::PageReader pages = tx->ReadPages();
    uint32_t pgno;
    std::span<const uint8_t> data;
    for (;;) {
      LTXBUS_ASSIGN_OR_RETURN(bool more, pages.Next(&pgno, &data));
      if (!more) break;
      checksum ^= data[data.size() / 2] + pgno;  // touch the page
    }
    n++;
  }
  if (n != want) return Status::Internal("read {} transactions, want {}", n, want);
  (void)checksum;
  return Timing{std::chrono::duration<double>(opened - start).count(),
                std::chrono::duration<double>(Clock::now() - start).count()};
}

Result<double> ReadWithCli(const std::string& url, const std::string& db, size_t want) {
  const auto start = Clock::now();
  ProcessOptions po;
  po.stdout_mode = Stream::kCapture;
  po.stderr_mode = Stream::kCapture;
  LTXBUS_ASSIGN_OR_RETURN(CommandResult r, RunCommand({testing::LtxbusBinary(), "tail", url, db,
                                                       "-from-beginning", "-format", "json"},
                                                      std::chrono::minutes(10), po));
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (r.exit_code != 0) return Status::Internal("ltxbus tail failed: {}", r.error_output);
  const size_t lines = static_cast<size_t>(std::count(r.output.begin(), r.output.end(), '\n'));
  if (lines != want) return Status::Internal("ltxbus tail printed {} lines, want {}", lines, want);
  return seconds;
}

Status Run(int argc, char** argv) {
  std::vector<Workload> workloads = {{"small", 2000, 4}, {"large", 100, 256}};
  int rounds = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const int v = std::atoi(argv[i + 1]);
    if (flag == "--small") workloads[0].transactions = v;
    if (flag == "--large") workloads[1].transactions = v;
    if (flag == "--rounds") rounds = v;
  }
  std::vector<std::unique_ptr<testing::TestServer>> servers;
  const char* testbed = std::getenv("LTXBUS_TESTBED_DIR");
  for (ServerKind kind : {ServerKind::kNats, ServerKind::kKafka}) {
    auto s = testbed != nullptr && *testbed != '\0'
                 ? testing::TestServer::Attach(
                       kind, std::string(testbed) + "/" + std::string(testing::ServerName(kind)))
                 : testing::TestServer::Start(kind);
    LTXBUS_RETURN_IF_ERROR(s.status());
    servers.push_back(std::move(*s));
  }
  std::printf(
      "| Bus | Workload | Reader | Transactions | LTX MB | Total s | Open s | Transactions/s | "
      "MB/s |\n");
  std::printf("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
  for (const auto& server : servers) {
    const bool nats = server->kind() == ServerKind::kNats;
    const std::string topic = testing::UniqueName(nats ? "BENCH" : "bench");
    const std::string url =
        nats ? fmt::format("{}/{}", server->env("NATS_URL"), topic)
             : fmt::format("kafka://{}/{}", server->env("KAFKA_BOOTSTRAP"), topic);
    LTXBUS_ASSIGN_OR_RETURN(bus::Endpoint endpoint, bus::Endpoint::Parse(url));
    LTXBUS_ASSIGN_OR_RETURN(auto bus, bus::Bus::Connect(endpoint));
    for (const Workload& w : workloads) {
      const std::string db = w.name + ".db";
      const auto files = MakeStream(w.transactions, w.pages_per_tx, 7);
      LTXBUS_ASSIGN_OR_RETURN(uint64_t bytes, Publish(*bus, db, files));
      const double mb = static_cast<double>(bytes) / 1e6;
      // Throughput over the reading itself (total minus open); the CLI's is
      // over the whole run, process start and open included.
      auto report = [&](const char* reader, Timing t, bool whole) {
        const double seconds = whole ? t.total : t.total - t.open;
        const std::string open = whole ? "-" : fmt::format("{:.2f}", t.open);
        std::printf("| %s | %s | %s | %zu | %.1f | %.2f | %s | %.0f | %.1f |\n",
                    nats ? "NATS" : "Kafka", w.name.c_str(), reader, files.size(), mb, t.total,
                    open.c_str(), static_cast<double>(files.size()) / seconds, mb / seconds);
        std::fflush(stdout);
      };
      Timing api{1e9, 1e9}, raw{1e9, 1e9}, cli{0, 1e9};
      auto best = [](Timing a, Timing b) { return b.total < a.total ? b : a; };
      for (int r = 0; r < rounds; r++) {
        LTXBUS_ASSIGN_OR_RETURN(Timing t1, ReadWithApi(*bus, db, true, files.size()));
        LTXBUS_ASSIGN_OR_RETURN(Timing t2, ReadWithApi(*bus, db, false, files.size()));
        LTXBUS_ASSIGN_OR_RETURN(double s3, ReadWithCli(url, db, files.size()));
        api = best(api, t1);
        raw = best(raw, t2);
        cli = best(cli, Timing{0, s3});
      }
      report("C++ API", api, false);
      report("C++ API, no verify", raw, false);
      report("`tail -format json`", cli, true);
    }
  }
  return Status::OK();
}

}  // namespace
}  // namespace ltxbus

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::warn);
  ltxbus::Status s = ltxbus::Run(argc, argv);
  if (!s.ok()) {
    std::fprintf(stderr, "consumer_bench: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}
