// LTX codec throughput on realistic pages. Each fixture is a real SQLite
// database built in-process with ltxbus's private SQLite (an app-like schema:
// users and orders with text, integers, blobs and two indexes), read back
// through sqlite_dbpage. Throughput is always page data per second
// (SetBytesProcessed = pages x page size), so encode, decode, CRC and compaction
// numbers compare directly. bench/run.sh runs this and writes bench/RESULTS.md.
//
// Benchmarks only measure; nothing here asserts a timing.
#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <lz4.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/crc64.h"
#include "base/crc64_internal.h"
#include "base/env.h"
#include "ltx/checksum.h"
#include "ltx/compactor.h"
#include "ltx/decoder.h"
#include "ltx/encoder.h"
#include "ltx/ltx.h"
#include "ltx/page_codec.h"
#include "sqlite/database.h"

namespace ltxbus::bench {
namespace {

using ltx::PageEncoding;
using Page = std::vector<uint8_t>;

constexpr std::array<PageEncoding, 2> kEncodings = {PageEncoding::kLZ4Frame,
                                                    PageEncoding::kLZ4Block};
constexpr int kCompactInputs = 20;
constexpr int64_t kTimestampMs = 1'700'000'000'000;

// A database image plus everything the benchmarks encode from it, built once.
struct Fixture {
  uint32_t page_size = 0;
  std::vector<Page> pages;  // pages[i] is page i + 1 (no lock page at these sizes)
  ltx::Checksum db_checksum = 0;
  // Snapshot files, [encoding][checksums].
  std::array<std::array<std::string, 2>, 2> snapshots;
  // kCompactInputs incremental files (TXIDs 2..21) from real writes, per encoding.
  std::array<std::vector<std::string>, 2> increments;
  uint64_t increment_pages = 0;  // pages summed over all increments
  // Per-page compressed payloads as PageCodec writes them, per encoding.
  std::array<std::vector<std::vector<uint8_t>>, 2> payloads;

  uint64_t data_bytes() const { return uint64_t{page_size} * pages.size(); }
};

[[noreturn]] void Die(const Status& s, std::string_view what) {
  std::fprintf(stderr, "ltx_bench: %.*s: %s\n", static_cast<int>(what.size()), what.data(),
               s.ToString().c_str());
  std::exit(1);
}
void Check(const Status& s, std::string_view what) {
  if (!s.ok()) Die(s, what);
}
template <typename T>
T Check(Result<T> r, std::string_view what) {
  if (!r.ok()) Die(r.status(), what);
  return std::move(r).value();
}

// Deterministic pseudo-random app data. Words, names and JSON keys repeat the
// way real rows do, so pages compress like a real database's, not like noise
// or zeros.
class RowGen {
 public:
  explicit RowGen(uint64_t seed) : rng_(seed) {}
  uint64_t Uniform(uint64_t n) { return rng_() % n; }
  std::string_view Pick(std::span<const std::string_view> from) {
    return from[Uniform(from.size())];
  }
  std::string Sentence(size_t max_words) {
    static constexpr std::string_view kWords[] = {
        "please", "deliver",  "before", "noon",    "leave",   "at",      "the",
        "door",   "gift",     "wrap",   "fragile", "call",    "on",      "arrival",
        "back",   "entrance", "thanks", "order",   "again",   "second",  "floor",
        "ring",   "bell",     "twice",  "no",      "plastic", "invoice", "company"};
    std::string s;
    for (size_t i = Uniform(max_words + 1); i > 0; i--) {
      if (!s.empty()) s.push_back(' ');
      s.append(Pick(kWords));
    }
    return s;
  }
  // Apps commonly keep UUIDs as 36-character text.
  std::string Uuid() {
    const uint64_t a = rng_(), b = rng_();
    return fmt::format("{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}", a >> 32, (a >> 16) & 0xffff,
                       a & 0xfff, (b >> 48 & 0x3fff) | 0x8000, b & 0xffffffffffff);
  }
  // A line-items JSON array.
  std::string Items() {
    std::string s = "[";
    for (uint64_t i = 1 + Uniform(4); i > 0; i--) {
      s += fmt::format(R"({{"sku":"SKU-{:05}","qty":{},"price_cents":{}}})", Uniform(20000),
                       1 + Uniform(5), 99 + Uniform(20000));
      if (i > 1) s += ',';
    }
    return s + "]";
  }
  // A serialized record (think protobuf): small tagged varint fields with a
  // few random ones, moderately compressible.
  std::vector<uint8_t> Record(size_t fields) {
    std::vector<uint8_t> b;
    for (size_t i = 0; i < fields; i++) {
      b.push_back(static_cast<uint8_t>((i % 15 + 1) << 3));
      uint64_t v = Uniform(16) == 0 ? rng_() >> 32 : Uniform(300);
      do {
        b.push_back(static_cast<uint8_t>((v & 0x7f) | (v > 0x7f ? 0x80 : 0)));
        v >>= 7;
      } while (v != 0);
    }
    return b;
  }

 private:
  std::mt19937_64 rng_;
};

constexpr std::string_view kFirst[] = {"anna",  "ben",   "chloe", "david", "emma", "felix",
                                       "grace", "henry", "isla",  "jack",  "kira", "liam",
                                       "maya",  "noah",  "olga",  "paul",  "rosa", "sven"};
constexpr std::string_view kLast[] = {"schmidt",  "muller", "garcia", "rossi", "novak", "smith",
                                      "kowalski", "jensen", "dubois", "silva", "berg",  "weber"};
constexpr std::string_view kProfiles[] = {
    R"({"theme":"dark","lang":"en","newsletter":true})",
    R"({"theme":"light","lang":"de","newsletter":false,"tz":"Europe/Berlin"})",
    R"({"lang":"fr","newsletter":true,"tz":"Europe/Paris","beta":["search","export"]})"};
constexpr std::string_view kStatuses[] = {"pending", "paid", "shipped", "delivered", "refunded"};
constexpr std::string_view kCurrencies[] = {"EUR", "USD", "GBP", "CHF"};

constexpr std::string_view kInsertOrder =
    "INSERT INTO orders(user_id, created_at, status, total_cents, currency, note, external_id, "
    "details, items) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

Status InsertOrder(sqlite::Statement& st, RowGen& g, int64_t users, int64_t now) {
  LTXBUS_RETURN_IF_ERROR(
      st.BindInt64(1, 1 + static_cast<int64_t>(g.Uniform(static_cast<uint64_t>(users)))));
  LTXBUS_RETURN_IF_ERROR(st.BindInt64(2, now - static_cast<int64_t>(g.Uniform(90 * 86400))));
  LTXBUS_RETURN_IF_ERROR(st.BindText(3, g.Pick(kStatuses)));
  LTXBUS_RETURN_IF_ERROR(st.BindInt64(4, static_cast<int64_t>(g.Uniform(50'000))));
  LTXBUS_RETURN_IF_ERROR(st.BindText(5, g.Pick(kCurrencies)));
  LTXBUS_RETURN_IF_ERROR(st.BindText(6, g.Sentence(12)));
  LTXBUS_RETURN_IF_ERROR(st.BindText(7, g.Uuid()));
  if (g.Uniform(3) == 0) {
    LTXBUS_RETURN_IF_ERROR(st.BindNull(8));
  } else {
    LTXBUS_RETURN_IF_ERROR(st.BindBlob(8, g.Record(8 + g.Uniform(40))));
  }
  LTXBUS_RETURN_IF_ERROR(st.BindText(9, g.Items()));
  LTXBUS_ASSIGN_OR_RETURN(bool row, st.Step());
  (void)row;
  return st.Reset();
}

// Fills an in-memory database of ~target_bytes with users and orders, then
// deletes a few percent of orders so pages are not all perfectly packed.
Status FillDatabase(sqlite::Database& db, uint32_t page_size, uint64_t target_bytes, RowGen& g) {
  LTXBUS_RETURN_IF_ERROR(db.Exec(fmt::format("PRAGMA page_size={}", page_size)));
  LTXBUS_RETURN_IF_ERROR(db.Exec(R"(
    CREATE TABLE users(id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE, name TEXT NOT NULL,
                       created_at INTEGER NOT NULL, status INTEGER NOT NULL, profile TEXT);
    CREATE TABLE orders(id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id),
                        created_at INTEGER NOT NULL, status TEXT NOT NULL,
                        total_cents INTEGER NOT NULL, currency TEXT NOT NULL, note TEXT,
                        external_id TEXT NOT NULL, details BLOB, items TEXT NOT NULL);
    CREATE INDEX orders_by_user ON orders(user_id, created_at);)"));
  constexpr int64_t kUsers = 5000;
  constexpr int64_t kNow = kTimestampMs / 1000;
  LTXBUS_RETURN_IF_ERROR(db.Exec("BEGIN"));
  {
    LTXBUS_ASSIGN_OR_RETURN(
        sqlite::Statement st,
        db.Prepare("INSERT INTO users(email, name, created_at, status, profile) "
                   "VALUES(?1, ?2, ?3, ?4, ?5)"));
    for (int64_t i = 0; i < kUsers; i++) {
      const std::string first(g.Pick(kFirst));
      const std::string last(g.Pick(kLast));
      LTXBUS_RETURN_IF_ERROR(st.BindText(1, fmt::format("{}.{}{}@example.com", first, last, i)));
      LTXBUS_RETURN_IF_ERROR(st.BindText(2, fmt::format("{} {}", first, last)));
      LTXBUS_RETURN_IF_ERROR(
          st.BindInt64(3, kNow - static_cast<int64_t>(g.Uniform(3 * 365 * 86400))));
      LTXBUS_RETURN_IF_ERROR(st.BindInt64(4, static_cast<int64_t>(g.Uniform(3))));
      LTXBUS_RETURN_IF_ERROR(st.BindText(5, g.Pick(kProfiles)));
      LTXBUS_ASSIGN_OR_RETURN(bool row, st.Step());
      (void)row;
      LTXBUS_RETURN_IF_ERROR(st.Reset());
    }
  }
  LTXBUS_ASSIGN_OR_RETURN(sqlite::Statement ins, db.Prepare(kInsertOrder));
  for (;;) {
    for (int i = 0; i < 1000; i++) LTXBUS_RETURN_IF_ERROR(InsertOrder(ins, g, kUsers, kNow));
    LTXBUS_ASSIGN_OR_RETURN(int64_t pages, db.QueryInt64("PRAGMA page_count"));
    if (static_cast<uint64_t>(pages) * page_size >= target_bytes) break;
  }
  LTXBUS_RETURN_IF_ERROR(db.Exec("DELETE FROM orders WHERE id % 23 = 0"));
  return db.Exec("COMMIT");
}

// A transaction like an app's: updates scattered orders, inserts a few.
Status RunTransaction(sqlite::Database& db, RowGen& g) {
  LTXBUS_ASSIGN_OR_RETURN(int64_t max_id, db.QueryInt64("SELECT max(id) FROM orders"));
  LTXBUS_RETURN_IF_ERROR(db.Exec("BEGIN"));
  {
    LTXBUS_ASSIGN_OR_RETURN(sqlite::Statement upd,
                            db.Prepare("UPDATE orders SET status=?1, note=?2 WHERE id=?3"));
    for (int i = 0; i < 100; i++) {
      LTXBUS_RETURN_IF_ERROR(upd.BindText(1, g.Pick(kStatuses)));
      LTXBUS_RETURN_IF_ERROR(upd.BindText(2, g.Sentence(12)));
      LTXBUS_RETURN_IF_ERROR(
          upd.BindInt64(3, 1 + static_cast<int64_t>(g.Uniform(static_cast<uint64_t>(max_id)))));
      LTXBUS_ASSIGN_OR_RETURN(bool row, upd.Step());
      (void)row;
      LTXBUS_RETURN_IF_ERROR(upd.Reset());
    }
    LTXBUS_ASSIGN_OR_RETURN(sqlite::Statement ins, db.Prepare(kInsertOrder));
    for (int i = 0; i < 20; i++) {
      LTXBUS_RETURN_IF_ERROR(InsertOrder(ins, g, 5000, kTimestampMs / 1000));
    }
  }
  return db.Exec("COMMIT");
}

Result<std::vector<Page>> ReadPages(sqlite::Database& db) {
  std::vector<Page> pages;
  LTXBUS_ASSIGN_OR_RETURN(sqlite::Statement st,
                          db.Prepare("SELECT pgno, data FROM sqlite_dbpage ORDER BY pgno"));
  for (;;) {
    LTXBUS_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    if (st.ColumnInt64(0) != static_cast<int64_t>(pages.size()) + 1) {
      return Status::Internal("sqlite_dbpage skipped a page");
    }
    auto data = st.ColumnBlob(1);
    pages.emplace_back(data.begin(), data.end());
  }
  return pages;
}

ltx::Checksum ChecksumOf(const std::vector<Page>& pages) {
  ltx::DatabaseChecksum sum;
  for (size_t i = 0; i < pages.size(); i++) {
    sum.Add(ltx::PageChecksum(static_cast<uint32_t>(i + 1), pages[i]));
  }
  return sum.Value();
}

// Encodes pages (pgno, data) under a header; `pre` and `post` are the
// database checksums before and after (0 for NoChecksum files).
Result<std::string> EncodeFile(const ltx::Header& h, PageEncoding enc,
                               std::span<const std::pair<uint32_t, const Page*>> pages,
                               ltx::Checksum post) {
  StringSink sink;
  ltx::Encoder e(&sink, {.encoding = enc});
  LTXBUS_RETURN_IF_ERROR(e.EncodeHeader(h));
  for (const auto& [pgno, data] : pages) LTXBUS_RETURN_IF_ERROR(e.EncodePage(pgno, *data));
  LTXBUS_RETURN_IF_ERROR(e.Finish(post));
  return std::move(sink.contents());
}

ltx::Header SnapshotHeader(uint32_t page_size, uint32_t commit, bool checksums) {
  ltx::Header h;
  h.flags = checksums ? 0 : ltx::kHeaderFlagNoChecksum;
  h.page_size = page_size;
  h.commit = commit;
  h.min_txid = 1;
  h.max_txid = 1;
  h.timestamp_ms = kTimestampMs;
  return h;
}

std::unique_ptr<Fixture> BuildFixture(uint32_t page_size, uint64_t target_bytes) {
  auto f = std::make_unique<Fixture>();
  f->page_size = page_size;
  RowGen g(page_size);
  auto db =
      Check(sqlite::Database::Open(":memory:", sqlite::Database::Mode::kReadWriteCreate), "open");
  Check(FillDatabase(db, page_size, target_bytes, g), "fill database");
  f->pages = Check(ReadPages(db), "read pages");
  f->db_checksum = ChecksumOf(f->pages);

  std::vector<std::pair<uint32_t, const Page*>> all;
  for (size_t i = 0; i < f->pages.size(); i++) {
    all.emplace_back(static_cast<uint32_t>(i + 1), &f->pages[i]);
  }
  const auto commit = static_cast<uint32_t>(f->pages.size());
  for (size_t e = 0; e < kEncodings.size(); e++) {
    for (int cs = 0; cs < 2; cs++) {
      f->snapshots[e][static_cast<size_t>(cs)] =
          Check(EncodeFile(SnapshotHeader(page_size, commit, cs == 1), kEncodings[e], all,
                           cs == 1 ? f->db_checksum : 0),
                "encode snapshot");
    }
    ltx::PageCodec codec;
    for (const Page& p : f->pages) {
      std::vector<uint8_t> out;
      Check(codec.Compress(kEncodings[e], p, &out), "compress");
      if (kEncodings[e] == PageEncoding::kLZ4Block) out.erase(out.begin(), out.begin() + 4);
      f->payloads[e].push_back(std::move(out));
    }
  }

  // Incremental files: the pages each real transaction changed, with the
  // database checksum chain, as a producer would write them.
  std::vector<Page> prev = f->pages;
  ltx::Checksum prev_sum = f->db_checksum;
  for (int i = 0; i < kCompactInputs; i++) {
    Check(RunTransaction(db, g), "transaction");
    std::vector<Page> cur = Check(ReadPages(db), "read pages");
    const ltx::Checksum sum = ChecksumOf(cur);
    std::vector<std::pair<uint32_t, const Page*>> changed;
    for (size_t p = 0; p < cur.size(); p++) {
      if (p >= prev.size() || cur[p] != prev[p]) {
        changed.emplace_back(static_cast<uint32_t>(p + 1), &cur[p]);
      }
    }
    ltx::Header h = SnapshotHeader(page_size, static_cast<uint32_t>(cur.size()), true);
    h.min_txid = h.max_txid = static_cast<ltx::TXID>(i + 2);
    h.pre_apply_checksum = prev_sum;
    for (size_t e = 0; e < kEncodings.size(); e++) {
      f->increments[e].push_back(
          Check(EncodeFile(h, kEncodings[e], changed, sum), "encode increment"));
    }
    f->increment_pages += changed.size();
    prev = std::move(cur);
    prev_sum = sum;
  }
  return f;
}

size_t Index(PageEncoding e) { return e == PageEncoding::kLZ4Block ? 1 : 0; }

void SetPageThroughput(benchmark::State& state, uint64_t bytes_per_iteration) {
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(bytes_per_iteration));
}

void BM_Encode(benchmark::State& state, const Fixture& f, PageEncoding enc, bool checksums) {
  const ltx::Header h =
      SnapshotHeader(f.page_size, static_cast<uint32_t>(f.pages.size()), checksums);
  StringSink sink;
  size_t out_size = 0;
  for (auto _ : state) {
    sink.contents().clear();  // keeps its capacity: measures the codec, not realloc
    ltx::Encoder e(&sink, {.encoding = enc});
    Check(e.EncodeHeader(h), "encode");
    for (size_t i = 0; i < f.pages.size(); i++) {
      Check(e.EncodePage(static_cast<uint32_t>(i + 1), f.pages[i]), "encode");
    }
    Check(e.Finish(checksums ? f.db_checksum : 0), "encode");
    out_size = sink.contents().size();
  }
  SetPageThroughput(state, f.data_bytes());
  state.counters["pages"] = static_cast<double>(f.pages.size());
  state.counters["file_ratio"] =
      static_cast<double>(out_size) / static_cast<double>(f.data_bytes());
}

// One small transaction's file (pages 2 and 3), a new encoder each time, as
// a producer writes one file per transaction.
void BM_EncodeTxn(benchmark::State& state, const Fixture& f, PageEncoding enc) {
  ltx::Header h = SnapshotHeader(f.page_size, static_cast<uint32_t>(f.pages.size()), true);
  h.min_txid = h.max_txid = 2;
  h.pre_apply_checksum = f.db_checksum;
  StringSink sink;
  for (auto _ : state) {
    sink.contents().clear();
    ltx::Encoder e(&sink, {.encoding = enc});
    Check(e.EncodeHeader(h), "encode");
    for (uint32_t pgno : {2U, 3U}) Check(e.EncodePage(pgno, f.pages[pgno - 1]), "encode");
    Check(e.Finish(f.db_checksum), "encode");
    benchmark::DoNotOptimize(sink.contents().data());
  }
  SetPageThroughput(state, 2 * uint64_t{f.page_size});
}

void BM_Decode(benchmark::State& state, const Fixture& f, PageEncoding enc, bool checksums) {
  const std::string& file = f.snapshots[Index(enc)][checksums ? 1 : 0];
  for (auto _ : state) {
    SpanSource src(AsBytes(file));
    auto summary = ltx::DecodeFile(&src);
    if (!summary.ok()) {
      state.SkipWithError(summary.status().ToString().c_str());
      break;
    }
    benchmark::DoNotOptimize(summary->trailer.file_checksum);
  }
  SetPageThroughput(state, f.data_bytes());
  state.counters["pages"] = static_cast<double>(f.pages.size());
  state.counters["file_ratio"] =
      static_cast<double>(file.size()) / static_cast<double>(f.data_bytes());
}

// LZ4 alone, through PageCodec: the ceiling for Decode.
void BM_Decompress(benchmark::State& state, const Fixture& f, PageEncoding enc) {
  ltx::PageCodec codec;
  Page page(f.page_size);
  const auto& payloads = f.payloads[Index(enc)];
  for (auto _ : state) {
    for (const auto& p : payloads) {
      Status s = enc == PageEncoding::kLZ4Block ? ltx::PageCodec::DecompressBlock(p, page)
                                                : codec.DecompressFrame(p, page);
      if (!s.ok()) Die(s, "decompress");
    }
    benchmark::DoNotOptimize(page.data());
  }
  SetPageThroughput(state, f.data_bytes());
}

// CRC-64 over the database pages, one call per page: what the decoder does.
void BM_Crc64(benchmark::State& state, const Fixture& f, bool table_only) {
  uint64_t acc = 0;
  for (auto _ : state) {
    for (const Page& p : f.pages) {
      acc ^= table_only ? ~crc64_internal::ExtendTable(~uint64_t{0}, p) : Crc64::Of(p);
    }
    benchmark::DoNotOptimize(acc);
  }
  SetPageThroughput(state, f.data_bytes());
}

void BM_Compact(benchmark::State& state, const Fixture& f, PageEncoding enc) {
  const auto& files = f.increments[Index(enc)];
  StringSink sink;
  for (auto _ : state) {
    std::vector<SpanSource> sources;
    sources.reserve(files.size());
    std::vector<SequentialFile*> inputs;
    for (const auto& file : files) inputs.push_back(&sources.emplace_back(AsBytes(file)));
    sink.contents().clear();
    ltx::CompactOptions opts;
    opts.encoder.encoding = enc;
    auto h = ltx::Compact(inputs, &sink, opts);
    if (!h.ok()) {
      state.SkipWithError(h.status().ToString().c_str());
      break;
    }
    benchmark::DoNotOptimize(sink.contents().data());
  }
  // Page data read from the inputs: every input page is decoded and verified.
  SetPageThroughput(state, f.increment_pages * f.page_size);
  state.counters["inputs"] = kCompactInputs;
  state.counters["input_pages"] = static_cast<double>(f.increment_pages);
}

void RegisterAll(const Fixture& f) {
  const std::string ps = fmt::format("{}", f.page_size);
  for (PageEncoding enc : kEncodings) {
    const std::string e(ltx::PageEncodingName(enc));
    for (bool cs : {true, false}) {
      const std::string tail = fmt::format("{}/{}/{}", ps, e, cs ? "checksums" : "nochecksums");
      benchmark::RegisterBenchmark(("Encode/" + tail).c_str(), BM_Encode, std::cref(f), enc, cs);
      benchmark::RegisterBenchmark(("Decode/" + tail).c_str(), BM_Decode, std::cref(f), enc, cs);
    }
    benchmark::RegisterBenchmark(fmt::format("EncodeTxn/{}/{}", ps, e).c_str(), BM_EncodeTxn,
                                 std::cref(f), enc);
    benchmark::RegisterBenchmark(fmt::format("Decompress/{}/{}", ps, e).c_str(), BM_Decompress,
                                 std::cref(f), enc);
    benchmark::RegisterBenchmark(fmt::format("Compact{}/{}/{}", kCompactInputs, ps, e).c_str(),
                                 BM_Compact, std::cref(f), enc);
  }
  benchmark::RegisterBenchmark(fmt::format("Crc64/{}/dispatch", ps).c_str(), BM_Crc64, std::cref(f),
                               false);
  benchmark::RegisterBenchmark(fmt::format("Crc64/{}/table", ps).c_str(), BM_Crc64, std::cref(f),
                               true);
}

}  // namespace
}  // namespace ltxbus::bench

int main(int argc, char** argv) {
  using namespace ltxbus::bench;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  // ~16 MiB databases: 4096 pages of 4 KiB, 256 pages of 64 KiB.
  const auto small = BuildFixture(4096, 16 << 20);
  const auto large = BuildFixture(65536, 16 << 20);
  RegisterAll(*small);
  RegisterAll(*large);
  benchmark::AddCustomContext("sqlite", std::string(ltxbus::sqlite::Database::LibraryVersion()));
  benchmark::AddCustomContext("lz4", LZ4_versionString());
  benchmark::AddCustomContext("crc64", std::string(ltxbus::crc64_internal::ImplementationName()));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
