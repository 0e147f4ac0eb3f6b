// Follows one database's stream on a real bus the way a consumer would, checks
// what a consumer must be able to rely on, and applies every frame to an
// offline rebuild of the database:
//
//   - TXIDs are contiguous: each frame starts right after the previous one;
//   - no TXID reaches the consumer twice;
//   - a snapshot (min TXID 1) appears only first or where the producer
//     changed (a restarted producer that could not prove continuity);
//   - every frame verifies and continues the checksum chain (the applier
//     checks both before it writes a page).
//
// Violations are GoogleTest failures (non-fatal for the invariants, fatal for
// bus or apply errors), so the calling test decides when to stop.
//
//   testing::StreamChecker checker(url, "app.db", dir.Join("rebuild.db"));
//   ... the app writes, the producer publishes ...
//   checker.ExpectConverges(app_db_path);
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "bus/assembler.h"
#include "bus/bus.h"
#include "ltx/apply.h"
#include "ltx/ltx.h"

namespace ltxbus::testing {

class StreamChecker {
 public:
  // Subscribes to `database` on the bus at `url` from the beginning; the
  // rebuild is created at `rebuild_path`.
  StreamChecker(const std::string& url, const std::string& database,
                const std::string& rebuild_path);
  ~StreamChecker();
  StreamChecker(const StreamChecker&) = delete;
  StreamChecker& operator=(const StreamChecker&) = delete;

  // Consumes and applies what is on the bus now: until nothing arrives for
  // 200 ms, or for at most `budget` (a busy producer may never pause).
  void Drain(std::chrono::milliseconds budget = std::chrono::hours(1));

  // Drains until the rebuild equals the live database at `source` page for
  // page (the producer caught up), or fails after `timeout`.
  void ExpectConverges(const std::string& source,
                       std::chrono::seconds timeout = std::chrono::seconds(60));

  int frames() const { return frames_; }
  int snapshots() const { return snapshots_; }
  // Frames with pages in each LTX page encoding (docs/ltx-format.md).
  int block_page_frames() const { return block_page_frames_; }
  int frame_page_frames() const { return frame_page_frames_; }
  ltx::TXID last_txid() const { return last_txid_; }
  // The largest frame applied so far, in bytes.
  uint64_t largest_frame() const { return largest_frame_; }
  // How many chunk messages carried the largest frame.
  uint32_t largest_frame_chunks() const { return largest_frame_chunks_; }

 private:
  void Apply(const bus::Frame& f, uint32_t chunks);

  std::string rebuild_;
  std::unique_ptr<bus::Bus> bus_;
  std::unique_ptr<bus::Subscriber> sub_;
  std::unique_ptr<ltx::DatabaseFileApplier> applier_;
  bus::FrameAssembler assembler_;
  ltx::TXID last_txid_ = 0;
  std::string last_producer_;
  int frames_ = 0;
  int snapshots_ = 0;
  int block_page_frames_ = 0;
  int frame_page_frames_ = 0;
  uint64_t largest_frame_ = 0;
  uint32_t largest_frame_chunks_ = 0;
};

}  // namespace ltxbus::testing
