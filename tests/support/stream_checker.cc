#include "tests/support/stream_checker.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "base/env.h"
#include "ltx/decoder.h"
#include "tests/support/bus_connect.h"
#include "tests/support/sqlite_pages.h"

namespace ltxbus::testing {
namespace {

using namespace std::chrono_literals;

// Copies a frame's bytes to `path` in pieces, so a 1 GiB frame never has to
// fit in memory.
Status WriteFrame(const bus::Frame& f, const std::string& path) {
  LTXBUS_ASSIGN_OR_RETURN(auto out, Env::Default()->NewWritableFile(path));
  auto in = f.Open();
  std::vector<uint8_t> buf(1 << 20);
  for (;;) {
    LTXBUS_ASSIGN_OR_RETURN(size_t n, in->Read(buf));
    if (n == 0) break;
    LTXBUS_RETURN_IF_ERROR(out->Append(std::span(buf.data(), n)));
  }
  return out->Close();
}

struct Encodings {
  bool block = false;
  bool frame = false;
};

// Which page encodings the LTX file at `path` uses.
Result<Encodings> PageEncodings(const std::string& path) {
  LTXBUS_ASSIGN_OR_RETURN(auto src, Env::Default()->NewSequentialFile(path));
  ltx::Decoder dec(src.get());
  LTXBUS_RETURN_IF_ERROR(dec.DecodeHeader());
  std::vector<uint8_t> page(dec.header().page_size);
  for (uint32_t pgno = 0;;) {
    LTXBUS_ASSIGN_OR_RETURN(bool more, dec.NextPage(&pgno, page));
    if (!more) break;
  }
  LTXBUS_RETURN_IF_ERROR(dec.Finish());
  return Encodings{dec.saw_block_pages(), dec.saw_frame_pages()};
}

}  // namespace

StreamChecker::StreamChecker(const std::string& url, const std::string& database,
                             const std::string& rebuild_path)
    : rebuild_(rebuild_path) {
  bus_ = ConnectBus(url);
  if (bus_ == nullptr) return;
  auto sub = bus_->Subscribe(database, {});
  EXPECT_TRUE(sub.ok()) << sub.status().ToString();
  if (sub.ok()) sub_ = std::move(*sub);
  auto a = ltx::DatabaseFileApplier::Open(Env::Default(), rebuild_);
  EXPECT_TRUE(a.ok()) << a.status().ToString();
  if (a.ok()) applier_ = std::move(*a);
}

StreamChecker::~StreamChecker() = default;

void StreamChecker::Drain(std::chrono::milliseconds budget) {
  ASSERT_NE(sub_, nullptr) << "the checker could not subscribe";
  ASSERT_NE(applier_, nullptr);
  const auto deadline = std::chrono::steady_clock::now() + budget;
  while (std::chrono::steady_clock::now() < deadline) {
    auto c = sub_->Next(200ms);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    if (!c->has_value()) return;
    const uint32_t index = (*c)->headers.index;
    auto f = assembler_.Add(std::move(**c));
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    if (f->has_value()) {
      Apply(**f, index + 1);  // the chunk that completes a frame is its last
      if (::testing::Test::HasFatalFailure()) return;
    }
  }
}

void StreamChecker::ExpectConverges(const std::string& source, std::chrono::seconds timeout) {
  std::string diff = "nothing was applied";
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    Drain();
    if (::testing::Test::HasFatalFailure()) return;
    auto want = ReadSqlitePages(source);
    ASSERT_TRUE(want.ok()) << want.status().ToString();
    auto got = ReadFilePages(rebuild_);
    if (got.ok()) {
      diff = DiffPages(*want, *got);
      if (diff.empty()) return;
    }
    std::this_thread::sleep_for(200ms);
  }
  FAIL() << "the rebuild never caught up with " << source << " (last TXID "
         << ltx::FormatTXID(last_txid_) << ", " << frames_ << " frames): " << diff;
}

void StreamChecker::Apply(const bus::Frame& f, uint32_t chunks) {
  const bus::FrameId& id = f.id();
  if (id.min_txid == 1) {
    // A snapshot is honest only where a producer (re)started.
    EXPECT_TRUE(frames_ == 0 || id.producer != last_producer_)
        << "snapshot TXID " << id.max_txid << " without a producer restart";
    snapshots_++;
  } else {
    EXPECT_EQ(id.min_txid, last_txid_ + 1)
        << "TXIDs must be contiguous (frame " << ltx::FormatTXID(id.min_txid) << "-"
        << ltx::FormatTXID(id.max_txid) << ")";
  }
  EXPECT_GT(id.max_txid, last_txid_) << "a TXID reached the consumer twice";
  const std::string path = rebuild_ + ".frame";
  Status written = WriteFrame(f, path);
  ASSERT_TRUE(written.ok()) << written.ToString();
  Status applied = applier_->ApplyFile(path);  // verifies the checksum chain too
  ASSERT_TRUE(applied.ok()) << "TXID " << ltx::FormatTXID(id.max_txid) << ": "
                            << applied.ToString();
  auto encodings = PageEncodings(path);
  ASSERT_TRUE(encodings.ok()) << encodings.status().ToString();
  block_page_frames_ += encodings->block ? 1 : 0;
  frame_page_frames_ += encodings->frame ? 1 : 0;
  (void)Env::Default()->RemoveFile(path);
  last_txid_ = id.max_txid;
  last_producer_ = id.producer;
  frames_++;
  if (f.size() > largest_frame_) {
    largest_frame_ = f.size();
    largest_frame_chunks_ = chunks;
  }
}

}  // namespace ltxbus::testing
