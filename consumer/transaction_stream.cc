#include "consumer/transaction_stream.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <utility>

#include "bus/assembler.h"
#include "consumer/stream_locator.h"
#include "ltx/decoder.h"

namespace ltxbus::consumer {

using ltx::FormatTXID;

// ---- PageReader ----

struct PageReader::Impl {
  explicit Impl(std::unique_ptr<SequentialFile> file) : src(std::move(file)), dec(src.get()) {}
  std::unique_ptr<SequentialFile> src;
  ltx::Decoder dec;  // reads src, so src must outlive it (declared first)
  std::vector<uint8_t> page;
  bool started = false;
  bool done = false;
};

PageReader::PageReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PageReader::PageReader(PageReader&&) noexcept = default;
PageReader& PageReader::operator=(PageReader&&) noexcept = default;
PageReader::~PageReader() = default;

Result<bool> PageReader::Next(uint32_t* pgno, std::span<const uint8_t>* data) {
  Impl& s = *impl_;
  if (s.done) return false;
  if (!s.started) {
    LTXBUS_RETURN_IF_ERROR(s.dec.DecodeHeader());
    s.page.resize(s.dec.header().page_size);
    s.started = true;
  }
  LTXBUS_ASSIGN_OR_RETURN(bool more, s.dec.NextPage(pgno, s.page));
  if (!more) {
    LTXBUS_RETURN_IF_ERROR(s.dec.Finish());
    s.done = true;
    return false;
  }
  *data = s.page;
  return true;
}

// ---- Transaction ----

namespace internal {
struct TransactionAccess {
  static Transaction Make(bus::Frame frame, const ltx::Header& header, uint32_t page_count,
                          int64_t first_bus_time_ms) {
    return Transaction(std::make_unique<bus::Frame>(std::move(frame)), header, page_count,
                       first_bus_time_ms);
  }
};
}  // namespace internal

Transaction::Transaction(std::unique_ptr<bus::Frame> frame, ltx::Header header, uint32_t page_count,
                         int64_t first_bus_time_ms)
    : frame_(std::move(frame)),
      header_(header),
      position_{frame_->id().max_txid, frame_->first_offset(), frame_->last_offset()},
      page_count_(page_count),
      first_bus_time_ms_(first_bus_time_ms) {}
Transaction::Transaction(Transaction&&) noexcept = default;
Transaction& Transaction::operator=(Transaction&&) noexcept = default;
Transaction::~Transaction() = default;

const std::string& Transaction::database() const { return frame_->id().database; }
ltx::Checksum Transaction::post_apply_checksum() const { return frame_->trailer().post_apply; }
const std::string& Transaction::producer() const { return frame_->id().producer; }
int64_t Transaction::bus_time_ms() const { return frame_->bus_time_ms(); }
uint64_t Transaction::size() const { return frame_->size(); }
std::unique_ptr<SequentialFile> Transaction::OpenLtx() const { return frame_->Open(); }
PageReader Transaction::ReadPages() const {
  return PageReader(std::make_unique<PageReader::Impl>(frame_->Open()));
}

// ---- FilePositionStore ----

namespace {

class FilePositionStore final : public PositionStore {
 public:
  FilePositionStore(Env* env, std::string path) : env_(env), path_(std::move(path)) {}
  Result<std::optional<Position>> Load() override {
    if (!env_->FileExists(path_)) return std::optional<Position>();
    LTXBUS_ASSIGN_OR_RETURN(std::string text, ReadFileToString(env_, path_));
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
      text.pop_back();
    }
    auto p = Position::Parse(text);
    if (!p.ok()) return p.status().WithContext(path_);
    return std::optional<Position>(*p);
  }
  Status Save(const Position& position) override {
    return WriteFileAtomic(env_, path_, AsBytes(position.ToString() + "\n")).WithContext(path_);
  }

 private:
  Env* env_;
  std::string path_;
};

}  // namespace

std::unique_ptr<PositionStore> NewFilePositionStore(Env* env, std::string path) {
  return std::make_unique<FilePositionStore>(env, std::move(path));
}

// ---- TransactionStream ----

namespace {

using Clock = std::chrono::steady_clock;

// The frame's LTX file against what the bus said about it. With `full`, the
// whole file is decoded and verified (checksums, index, trailer); otherwise
// only its header is read.
Result<std::pair<ltx::Header, uint32_t>> CheckFrame(const bus::Frame& f, bool full) {
  auto src = f.Open();
  ltx::Header h;
  uint32_t pages = 0;
  if (full) {
    LTXBUS_ASSIGN_OR_RETURN(ltx::FileSummary s, ltx::DecodeFile(src.get()));
    if (s.trailer.post_apply_checksum != f.trailer().post_apply) {
      return Status::Corruption("its post-apply checksum is {:016x} but the bus says {:016x}",
                                s.trailer.post_apply_checksum, f.trailer().post_apply);
    }
    h = s.header;
    pages = s.page_count;
  } else {
    ltx::Decoder dec(src.get());
    LTXBUS_RETURN_IF_ERROR(dec.DecodeHeader());
    h = dec.header();
  }
  const bus::FrameId& id = f.id();
  if (h.min_txid != id.min_txid || h.max_txid != id.max_txid) {
    return Status::Corruption("its LTX header holds TXIDs {} to {} but the bus says {} to {}",
                              FormatTXID(h.min_txid), FormatTXID(h.max_txid),
                              FormatTXID(id.min_txid), FormatTXID(id.max_txid));
  }
  if (h.pre_apply_checksum != id.pre_apply) {
    return Status::Corruption("its pre-apply checksum is {:016x} but the bus says {:016x}",
                              h.pre_apply_checksum, id.pre_apply);
  }
  return std::pair{h, pages};
}

class Stream final : public TransactionStream {
 public:
  Stream(std::string database, StreamOptions options, internal::ReadPlan plan,
         std::optional<StreamBounds> bounds, std::unique_ptr<bus::Subscriber> sub)
      : database_(std::move(database)),
        options_(std::move(options)),
        plan_(std::move(plan)),
        bounds_(std::move(bounds)),
        sub_(std::move(sub)),
        assembler_(options_.frame_memory_limit, [this](const std::string& why) { Skip(why); }),
        finished_(plan_.finished_at_open) {
    if (options_.start.kind == StartAt::Kind::kAfter) acked_ = options_.start.after;
  }

  Result<std::optional<Transaction>> Next(bus::Millis timeout) override {
    if (stashed_) {
      std::optional<Transaction> t = std::move(stashed_);
      stashed_.reset();
      return t;
    }
    const auto deadline = Clock::now() + timeout;
    while (!finished_) {
      const auto left = std::max(bus::Millis(0),
                                 std::chrono::duration_cast<bus::Millis>(deadline - Clock::now()));
      auto chunk = sub_->Next(left);
      if (!chunk.ok()) return chunk.status().WithContext(fmt::format("database '{}'", database_));
      if (!chunk->has_value()) break;
      bus::Chunk& c = **chunk;
      if (PastStop(c)) {
        finished_ = true;
        break;
      }
      if (c.headers.index == 0) pending_first_time_ms_ = c.bus_time_ms;
      // The chunk at the stop offset ends the range even when it completes no
      // frame (a start inside the last frame, an abandoned attempt).
      const bool at_stop = plan_.stop_offset && c.offset >= *plan_.stop_offset;
      LTXBUS_ASSIGN_OR_RETURN(std::optional<bus::Frame> frame, assembler_.Add(std::move(c)));
      if (at_stop) finished_ = true;
      if (frame) {
        auto tx = Accept(std::move(*frame));
        if (!tx.ok() || tx->has_value()) return tx;
      }
      if (Clock::now() >= deadline) break;
    }
    return std::optional<Transaction>();
  }

  bool finished() const override { return finished_ && !stashed_; }

  Status Ack(const Position& position) override {
    if (acked_ && position.txid <= acked_->txid) return Status::OK();
    if (options_.positions != nullptr) {
      LTXBUS_RETURN_IF_ERROR(options_.positions->Save(position));
    }
    acked_ = position;
    return Status::OK();
  }
  const std::optional<Position>& acked() const override { return acked_; }
  const std::optional<StreamBounds>& bounds() const override { return bounds_; }

 private:
  struct Delivered {
    ltx::TXID txid;
    ltx::Checksum post_apply;
    uint64_t last_offset;
  };

  void Skip(const std::string& why) {
    if (options_.on_skip) {
      options_.on_skip(why);
    } else {
      spdlog::debug("database '{}': {}", database_, why);
    }
  }

  bool PastStop(const bus::Chunk& c) const {
    return (plan_.stop_offset && c.offset > *plan_.stop_offset) ||
           (plan_.stop_time_ms && c.bus_time_ms > *plan_.stop_time_ms) ||
           (plan_.stop_txid && c.headers.frame.min_txid > *plan_.stop_txid);
  }

  // Decides what a complete frame is: skipped, delivered, or delivered after
  // an error about the break in front of it.
  Result<std::optional<Transaction>> Accept(bus::Frame frame) {
    const bus::FrameId& id = frame.id();
    const auto where = [&] {
      return fmt::format("database '{}', frame TXID {} to {} at offsets {} to {}", database_,
                         FormatTXID(id.min_txid), FormatTXID(id.max_txid), frame.first_offset(),
                         frame.last_offset());
    };
    if (plan_.min_first_time_ms > 0 && pending_first_time_ms_ < plan_.min_first_time_ms) {
      return std::optional<Transaction>();  // began before the start time
    }
    if (id.max_txid <= plan_.skip_through_txid) return std::optional<Transaction>();
    if (last_ && id.max_txid <= last_->txid) {
      Skip(fmt::format("TXID {} at offset {} was delivered already (re-published); skipped",
                       FormatTXID(id.max_txid), frame.first_offset()));
      return std::optional<Transaction>();
    }
    auto checked = CheckFrame(frame, options_.verify);
    if (!checked.ok()) {
      return Status::Corruption("{}: {}", where(), checked.status().message());
    }
    const ltx::Header& h = checked->first;
    if (plan_.expect_contains_txid) {
      const ltx::TXID want = *std::exchange(plan_.expect_contains_txid, std::nullopt);
      if (id.min_txid > want) {
        return Status::NotFound("{}: TXID {} was asked for but is not on the bus", where(),
                                FormatTXID(want));
      }
    }
    Status gap;
    if (!h.IsSnapshot()) {
      if (last_ && id.min_txid != last_->txid + 1) {
        gap = Status::Corruption(
            "{}: gap: the previous transaction was TXID {} (ending at offset {}), so TXIDs {} to "
            "{} are missing",
            where(), FormatTXID(last_->txid), last_->last_offset, FormatTXID(last_->txid + 1),
            FormatTXID(id.min_txid - 1));
      } else if (last_ && id.pre_apply != last_->post_apply) {
        gap = Status::Corruption(
            "{}: checksum chain broken: its pre-apply checksum {:016x} is not the post-apply "
            "checksum {:016x} of TXID {}",
            where(), id.pre_apply, last_->post_apply, FormatTXID(last_->txid));
      } else if (!last_ && plan_.expect_next_txid && id.min_txid != *plan_.expect_next_txid) {
        gap = Status::Corruption("{}: gap: resuming after TXID {}, so TXIDs {} to {} are missing",
                                 where(), FormatTXID(*plan_.expect_next_txid - 1),
                                 FormatTXID(*plan_.expect_next_txid), FormatTXID(id.min_txid - 1));
      }
    }
    last_ = Delivered{id.max_txid, frame.trailer().post_apply, frame.last_offset()};
    if ((plan_.stop_txid && id.max_txid >= *plan_.stop_txid) ||
        (plan_.stop_offset && frame.last_offset() >= *plan_.stop_offset)) {
      finished_ = true;
    }
    Transaction tx = internal::TransactionAccess::Make(std::move(frame), h, checked->second,
                                                       pending_first_time_ms_);
    if (!gap.ok()) {
      stashed_ = std::move(tx);
      return gap;
    }
    return std::optional<Transaction>(std::move(tx));
  }

  std::string database_;
  StreamOptions options_;
  internal::ReadPlan plan_;
  std::optional<StreamBounds> bounds_;
  std::unique_ptr<bus::Subscriber> sub_;
  bus::FrameAssembler assembler_;
  bool finished_;
  int64_t pending_first_time_ms_ = 0;  // bus time of the open frame's first chunk
  std::optional<Delivered> last_;
  std::optional<Transaction> stashed_;  // delivered by the next call, after a gap error
  std::optional<Position> acked_;
};

}  // namespace

Result<std::unique_ptr<TransactionStream>> TransactionStream::Open(bus::Bus& bus,
                                                                   const std::string& database,
                                                                   StreamOptions options) {
  if (database.empty()) return Status::InvalidArgument("no database name given");
  internal::StreamLocator locator(bus, database, options.open_timeout);
  LTXBUS_ASSIGN_OR_RETURN(std::optional<StreamBounds> bounds, locator.ReadBounds());
  LTXBUS_ASSIGN_OR_RETURN(internal::ReadPlan plan, internal::PlanRead(locator, database, bounds,
                                                                      options.start, options.stop));
  spdlog::debug("database '{}': reading from {} to {} ({} probes)", database,
                options.start.ToString(), options.stop.ToString(), locator.probes());
  std::unique_ptr<bus::Subscriber> sub;
  if (!plan.finished_at_open) {
    LTXBUS_ASSIGN_OR_RETURN(sub, bus.Subscribe(database, plan.subscribe));
  }
  return std::unique_ptr<TransactionStream>(std::make_unique<Stream>(
      database, std::move(options), std::move(plan), std::move(bounds), std::move(sub)));
}

}  // namespace ltxbus::consumer
