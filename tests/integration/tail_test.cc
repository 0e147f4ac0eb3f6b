// `ltxbus tail` against the real nats-server and Kafka 3.9.1, on a stream
// the real producer published from a workload on the system SQLite:
// rebuilding the database as of offsets, times and TXIDs reproduces the
// states captured while the app wrote; JSON lines follow the schema in docs/;
// LTX files verify; bad positions and retention give clear errors and write
// nothing.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>

#include "consumer/stream_position.h"
#include "tests/integration/tail_support.h"
#include "tests/support/sqlite_pages.h"

namespace ltxbus::tail_test {
namespace {

using consumer::FormatRfc3339;

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    out.push_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

std::vector<ltx::TXID> TxidsOf(const std::vector<nlohmann::json>& lines) {
  std::vector<ltx::TXID> out;
  for (const auto& j : lines) out.push_back(std::stoull(j["txid"].get<std::string>(), nullptr, 16));
  return out;
}

// Parses every line as one JSON object that follows the schema.
std::vector<nlohmann::json> ParseLines(const std::string& text) {
  std::vector<nlohmann::json> out;
  for (const std::string& line : Lines(text)) {
    auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    EXPECT_TRUE(j.is_object()) << "not one JSON object: " << line;
    if (!j.is_object()) continue;
    EXPECT_EQ(SchemaErrors(j), "") << line;
    out.push_back(std::move(j));
  }
  return out;
}

TEST_P(TailTest, ApplyRebuildsTheDatabaseAsOfOffsetsTimesAndTxids) {
  const Recording& r = SharedRecording();
  ASSERT_FALSE(HasFatalFailure());
  ASSERT_GE(r.captures.size(), 10u);
  ASSERT_GT(r.frames.size(), r.captures.size()) << "steps with several transactions";
  std::mt19937 rng(GetParam() == ServerKind::kNats ? 17 : 23);
  testing::TempDir out;
  int n = 0;
  auto rebuild = [&](const Capture& c, const std::string& flag, const std::string& value) {
    const std::string db = out.Join(fmt::format("r{}.db", n++));
    auto res = Tail(r.url, r.db_name, {"-apply", db, flag, value});
    ASSERT_EQ(res.exit_code, 0) << flag << " " << value << ": " << res.error_output;
    EXPECT_EQ(res.output, "");
    auto got = testing::ReadFilePages(db);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(testing::DiffPages(c.pages, *got), "")
        << flag << " " << value << " should give the database as of TXID " << Hex(c.txid);
    EXPECT_FALSE(Env::Default()->FileExists(db + ".ltxbus-tail"));
  };
  // Ten different captured states for each kind of position.
  std::vector<size_t> picks(r.captures.size());
  std::iota(picks.begin(), picks.end(), 0);
  for (const std::string kind : {"offset", "time", "txid"}) {
    std::shuffle(picks.begin(), picks.end(), rng);
    for (size_t i = 0; i < 10 && !HasFatalFailure(); i++) {
      const Capture& c = r.captures[picks[i]];
      if (kind == "offset") {
        // Any offset from this state's last frame up to just before the next
        // frame is complete.
        const uint64_t lo = r.frames[c.frame].last_offset;
        const uint64_t hi =
            c.frame + 1 < r.frames.size() ? r.frames[c.frame + 1].last_offset - 1 : lo;
        rebuild(c, "-to-offset", std::to_string(lo + rng() % (hi - lo + 1)));
      } else if (kind == "time") {
        rebuild(c, "-to-time", FormatRfc3339(c.time_ms));
      } else {
        rebuild(c, "-to-txid", Hex(c.txid));
      }
    }
  }
}

TEST_P(TailTest, JsonIsOneObjectPerLineWithEveryField) {
  const Recording& r = SharedRecording();
  ASSERT_FALSE(HasFatalFailure());
  const auto& f = r.frames;
  ASSERT_GE(f.size(), 12u);
  const size_t from = 3, to = f.size() - 4;
  auto res = Tail(r.url, r.db_name, {"-from-txid", Hex(f[from].txid), "-to-txid", Hex(f[to].txid)});
  ASSERT_EQ(res.exit_code, 0) << res.error_output;
  auto lines = ParseLines(res.output);
  ASSERT_EQ(lines.size(), to - from + 1);
  for (size_t i = 0; i < lines.size(); i++) {
    const nlohmann::json& j = lines[i];
    const RecordedFrame& want = f[from + i];
    EXPECT_EQ(j["database"], r.db_name);
    EXPECT_EQ(j["txid"], Hex(want.txid));
    EXPECT_EQ(j["max_txid"], j["txid"]);
    EXPECT_EQ(j["offset"], want.first_offset);
    EXPECT_EQ(j["last_offset"], want.last_offset);
    EXPECT_EQ(j["bus_time_ms"], want.bus_time_ms);
    EXPECT_EQ(j["position"],
              fmt::format("{}:{}:{}", Hex(want.txid), want.first_offset, want.last_offset));
    EXPECT_EQ(*consumer::ParseRfc3339(j["timestamp"].get<std::string>()), j["timestamp_ms"]);
    EXPECT_EQ(*consumer::ParseRfc3339(j["bus_time"].get<std::string>()), j["bus_time_ms"]);
    const auto pages = j["pages"].get<std::vector<uint32_t>>();
    EXPECT_EQ(j["page_count"], pages.size());
    EXPECT_TRUE(std::is_sorted(pages.begin(), pages.end()));
    EXPECT_FALSE(pages.empty());
    if (!pages.empty()) {
      EXPECT_LE(pages.back(), j["commit"].get<uint32_t>());
    }
    if (i > 0 && !j["snapshot"].get<bool>()) {
      EXPECT_EQ(j["pre_apply_checksum"], lines[i - 1]["post_apply_checksum"]) << "chain at " << i;
      EXPECT_EQ(j["min_txid"], Hex(want.txid));
    }
  }
  // By offset: from a frame's first chunk to another's last chunk.
  res = Tail(r.url, r.db_name,
             {"-from-offset", std::to_string(f[5].first_offset), "-to-offset",
              std::to_string(f[9].last_offset)});
  ASSERT_EQ(res.exit_code, 0) << res.error_output;
  EXPECT_EQ(TxidsOf(ParseLines(res.output)),
            (std::vector<ltx::TXID>{f[5].txid, f[6].txid, f[7].txid, f[8].txid, f[9].txid}));
  // By time: from between two steps of the app to the end.
  const Capture& c = r.captures[r.captures.size() / 2];
  res = Tail(r.url, r.db_name, {"-from-time", FormatRfc3339(c.time_ms)});
  ASSERT_EQ(res.exit_code, 0) << res.error_output;
  auto by_time = TxidsOf(ParseLines(res.output));
  ASSERT_EQ(by_time.size(), f.size() - c.frame - 1);
  EXPECT_EQ(by_time.front(), f[c.frame + 1].txid);
  EXPECT_EQ(by_time.back(), f.back().txid);
}

TEST_P(TailTest, PositionFileResumesAfterTheLastWrittenTransaction) {
  const Recording& r = SharedRecording();
  ASSERT_FALSE(HasFatalFailure());
  const auto& f = r.frames;
  ASSERT_GE(f.size(), 10u);
  testing::TempDir out;
  const std::string pos = out.Join("position");
  auto first = Tail(r.url, r.db_name,
                    {"-from-beginning", "-to-txid", Hex(f[5].txid), "-position-file", pos});
  ASSERT_EQ(first.exit_code, 0) << first.error_output;
  EXPECT_EQ(ParseLines(first.output).size(), 6u);
  auto saved = ReadFileToString(Env::Default(), pos);
  ASSERT_TRUE(saved.ok());
  EXPECT_EQ(*saved, fmt::format("{}:{}:{}\n", Hex(f[5].txid), f[5].first_offset, f[5].last_offset));
  auto second = Tail(r.url, r.db_name, {"-to-txid", Hex(f[9].txid), "-position-file", pos});
  ASSERT_EQ(second.exit_code, 0) << second.error_output;
  EXPECT_EQ(TxidsOf(ParseLines(second.output)),
            (std::vector<ltx::TXID>{f[6].txid, f[7].txid, f[8].txid, f[9].txid}));
  auto both = Tail(r.url, r.db_name, {"-from-beginning", "-position-file", pos});
  EXPECT_EQ(both.exit_code, 1);
  EXPECT_NE(both.error_output.find("exclude each other"), std::string::npos) << both.error_output;
}

TEST_P(TailTest, LtxFilesPassVerify) {
  const Recording& r = SharedRecording();
  ASSERT_FALSE(HasFatalFailure());
  testing::TempDir out;
  const std::string dir = out.Join("ltx");
  auto res = Tail(r.url, r.db_name, {"-from-beginning", "-format", "ltx", "-dir", dir});
  ASSERT_EQ(res.exit_code, 0) << res.error_output;
  EXPECT_EQ(res.output, "");
  auto names = Env::Default()->ListDir(dir);
  ASSERT_TRUE(names.ok());
  std::sort(names->begin(), names->end());
  ASSERT_EQ(names->size(), r.frames.size());
  std::vector<std::string> argv = {testing::LtxbusBinary(), "ltx", "verify"};
  for (size_t i = 0; i < names->size(); i++) {
    EXPECT_EQ((*names)[i], ltx::FormatFilename(i == 0 ? 1 : r.frames[i].txid, r.frames[i].txid));
    argv.push_back(dir + "/" + (*names)[i]);
  }
  auto verify = RunCommand(argv, std::chrono::seconds(120));
  ASSERT_TRUE(verify.ok());
  EXPECT_EQ(verify->exit_code, 0) << verify->output << verify->error_output;
  EXPECT_NE(verify->output.find("chain ok"), std::string::npos) << verify->output;
}

TEST_P(TailTest, BadPositionsFailClearlyAndWriteNothing) {
  const Recording& r = SharedRecording();
  ASSERT_FALSE(HasFatalFailure());
  const RecordedFrame& last = r.frames.back();
  struct Case {
    std::string db;
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {r.db_name, {"-from-offset", std::to_string(last.last_offset + 1000)}, "past the end"},
      {r.db_name, {"-to-offset", std::to_string(last.last_offset + 1000)}, "past the end"},
      {r.db_name, {"-from-txid", Hex(last.txid + 5)}, "unknown start TXID"},
      {r.db_name, {"-to-txid", Hex(last.txid + 5)}, "unknown stop TXID"},
      {"nosuch.db", {"-from-beginning"}, "database 'nosuch.db' has no transactions"},
      {r.db_name, {"-from-time", "2099-01-01T00:00:00Z"}, "nothing was stored at or after"},
      {r.db_name, {"-to-time", "2001-01-01T00:00:00Z"}, "before the oldest frame"},
  };
  testing::TempDir out;
  for (const Case& c : cases) {
    const std::string db = out.Join("rebuilt.db");
    const std::string dir = out.Join("ltx");
    const std::vector<std::vector<std::string>> outputs = {
        {}, {"-apply", db}, {"-format", "ltx", "-dir", dir}};
    for (const auto& output : outputs) {
      std::vector<std::string> args = c.args;
      args.insert(args.end(), output.begin(), output.end());
      auto res = Tail(r.url, c.db, args);
      const std::string what = CommandLine(args);
      EXPECT_EQ(res.exit_code, 1) << what;
      EXPECT_NE(res.error_output.find(c.message), std::string::npos)
          << what << ": " << res.error_output;
      EXPECT_EQ(res.output, "") << what;
      EXPECT_FALSE(Env::Default()->FileExists(db)) << what;
      EXPECT_FALSE(Env::Default()->FileExists(db + ".ltxbus-tail")) << what;
      EXPECT_FALSE(Env::Default()->FileExists(dir)) << what;
    }
  }
}

TEST_P(TailTest, PositionsBeforeRetentionAreErrors) {
  testing::TempDir dir;
  const std::string db = dir.Join("old.db");
  const std::string url = NewUrl("old");
  RunApp(db, {"--create", "--transactions", "2"});
  auto producer = StartProducer(db, url, dir.path());
  ASSERT_TRUE(producer.ok());
  // The app writes once the producer published its snapshot, so that each
  // transaction is a frame of its own.
  WaitForSource(url, "old.db", db);
  // Paced, so that the frames' bus times differ (the producer publishes a
  // burst of frames within the same millisecond).
  RunApp(db, {"--seed", "7", "--transactions", "12", "--pause-ms", "5"});
  const std::vector<RecordedFrame> f = WaitForSource(url, "old.db", db);
  StopProducer(*producer);
  ASSERT_GE(f.size(), 10u);
  // Retention removed everything before the sixth frame.
  DeleteBefore(url, "old.db", f[5].first_offset);
  ASSERT_FALSE(HasFatalFailure());
  for (const auto& args :
       std::vector<std::vector<std::string>>{{"-from-time", FormatRfc3339(f[2].bus_time_ms)},
                                             {"-from-txid", Hex(f[2].txid)},
                                             {"-from-offset", std::to_string(f[1].first_offset)},
                                             {"-to-time", FormatRfc3339(f[1].bus_time_ms)}}) {
    auto res = Tail(url, "old.db", args);
    EXPECT_EQ(res.exit_code, 1) << CommandLine(args);
    EXPECT_NE(res.error_output.find("retention"), std::string::npos)
        << CommandLine(args) << ": " << res.error_output;
    EXPECT_EQ(res.output, "");
  }
  auto all = Tail(url, "old.db", {"-from-beginning"});
  ASSERT_EQ(all.exit_code, 0) << all.error_output;
  auto txids = TxidsOf(ParseLines(all.output));
  ASSERT_EQ(txids.size(), f.size() - 5);
  EXPECT_EQ(txids.front(), f[5].txid);
  // A rebuild needs a snapshot, which retention removed.
  const std::string rebuilt = dir.Join("rebuilt.db");
  auto apply = Tail(url, "old.db", {"-apply", rebuilt});
  EXPECT_EQ(apply.exit_code, 1);
  EXPECT_NE(apply.error_output.find("-apply must start at a snapshot"), std::string::npos)
      << apply.error_output;
  EXPECT_FALSE(Env::Default()->FileExists(rebuilt));
  EXPECT_FALSE(Env::Default()->FileExists(rebuilt + ".ltxbus-tail"));
}

INSTANTIATE_TEST_SUITE_P(Buses, TailTest, ::testing::Values(ServerKind::kNats, ServerKind::kKafka),
                         [](const auto& p) { return std::string(testing::ServerName(p.param)); });

}  // namespace
}  // namespace ltxbus::tail_test
