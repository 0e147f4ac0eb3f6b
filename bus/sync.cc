#include "bus/sync.h"

#include <algorithm>
#include <thread>

namespace ltxbus::bus {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Reading the whole database file for rule 3 is costly; give up after this
// many reads that the database changed under.
constexpr int kChecksumAttempts = 3;

bool SameGeneration(const WalPosition& w, uint32_t salt1, uint32_t salt2) {
  return w.salt1 == salt1 && w.salt2 == salt2;
}

bool NothingInWal(const LocalCommits& l) { return !l.wal_index || l.max_frame == 0; }

std::string FormatGeneration(uint32_t salt1, uint32_t salt2) {
  return fmt::format("{:08x}:{:08x}", salt1, salt2);
}

// Rule 3 needs the checksum of a quiescent database at or after the point.
void MaybeReadChecksum(SyncPoint& point, const LocalReader& read, int& attempts) {
  if (point.state_checksum || !NothingInWal(point.local) || attempts >= kChecksumAttempts) return;
  attempts++;
  auto c = read(true);
  if (c.ok() && c->db_checksum) point.state_checksum = c->db_checksum;
}

std::string FormatWaited(milliseconds d) {
  return fmt::format("{:.3f}s", static_cast<double>(d.count()) / 1000.0);
}

}  // namespace

std::string LocalCommits::Format() const {
  std::string s;
  if (!wal_index) {
    s = "no -shm (no connection has it open; everything committed is in the database file)";
  } else if (max_frame == 0) {
    s = fmt::format(
        "WAL generation {} with no frames (everything committed is in the "
        "database file)",
        FormatGeneration(salt1, salt2));
  } else {
    s = fmt::format("WAL generation {}, committed up to frame {}", FormatGeneration(salt1, salt2),
                    max_frame);
  }
  if (db_checksum) s += fmt::format(", database checksum {:016x}", *db_checksum);
  return s;
}

std::string FormatFrame(const std::optional<LastFrame>& frame) {
  if (!frame) return "no frame";
  std::string wal = "no WAL position";
  if (const auto& w = frame->trailer.wal; w) {
    wal = w->next_frame == 0
              ? fmt::format("WAL generation {}", FormatGeneration(w->salt1, w->salt2))
              : fmt::format("WAL generation {} up to frame {}",
                            FormatGeneration(w->salt1, w->salt2), w->next_frame - 1);
  }
  return fmt::format("TXID {} at offset {}, {}, post-apply checksum {:016x}, producer {}",
                     ltx::FormatTXID(frame->id.max_txid), frame->offset, wal,
                     frame->trailer.post_apply,
                     frame->id.producer.empty() ? "?" : frame->id.producer);
}

Verdict Covers(const SyncPoint& point, const std::optional<LastFrame>& frame,
               const LocalCommits& now) {
  if (!frame) return {false, "the bus has no frame for this database"};
  const LocalCommits& at = point.local;
  const std::optional<WalPosition>& w = frame->trailer.wal;
  const std::string txid = ltx::FormatTXID(frame->id.max_txid);
  // Rule 1: the point's own generation.
  if (at.wal_index && w && SameGeneration(*w, at.salt1, at.salt2)) {
    if (w->next_frame > at.max_frame) {
      return {true, fmt::format("TXID {} reaches WAL frame {} of generation {}, where the "
                                "database had committed up to frame {}",
                                txid, w->next_frame - 1, FormatGeneration(at.salt1, at.salt2),
                                at.max_frame)};
    }
    return {false, fmt::format("TXID {} reaches WAL frame {} of {} committed", txid,
                               w->next_frame == 0 ? 0 : w->next_frame - 1, at.max_frame)};
  }
  // Rule 3: the bus holds exactly a state at or after the point.
  if (NothingInWal(at) && point.state_checksum &&
      frame->trailer.post_apply == *point.state_checksum) {
    return {true, fmt::format("TXID {}'s post-apply checksum {:016x} is the database file's", txid,
                              frame->trailer.post_apply)};
  }
  const bool published_after = !point.before || frame->offset != point.before->offset;
  const bool in_generation_now = w && now.wal_index && SameGeneration(*w, now.salt1, now.salt2) &&
                                 !(at.wal_index && SameGeneration(*w, at.salt1, at.salt2));
  // Rule 2: a later generation. salt1 grows by one per restart; a fresh WAL
  // (all connections closed in between) gets random salts, which only the
  // generation now can vouch for.
  if (at.wal_index && w && published_after) {
    const auto ahead = static_cast<int32_t>(w->salt1 - at.salt1);
    if (ahead > 0 || in_generation_now) {
      return {true, fmt::format("TXID {} is from WAL generation {}, which began after generation "
                                "{} that the database was in",
                                txid, FormatGeneration(w->salt1, w->salt2),
                                FormatGeneration(at.salt1, at.salt2))};
    }
  }
  // Rule 4: no connection at the point, so no producer either; a frame
  // from the generation now was published by one that started after it.
  if (!at.wal_index && published_after && in_generation_now) {
    return {true, fmt::format("TXID {} is from WAL generation {}, begun after the point (the "
                              "database had no -shm then)",
                              txid, FormatGeneration(w->salt1, w->salt2))};
  }
  if (!published_after)
    return {false, fmt::format("the bus's newest frame is still TXID {}", txid)};
  return {false, fmt::format("TXID {} does not show the database's committed transactions", txid)};
}

Result<SyncResult> CheckSync(Bus& bus, const std::string& database, const LocalReader& read) {
  const auto start = Clock::now();
  SyncResult r;
  LTXBUS_ASSIGN_OR_RETURN(r.point.before, bus.ReadLastFrame(database));
  LTXBUS_ASSIGN_OR_RETURN(r.point.local, read(false));
  LTXBUS_ASSIGN_OR_RETURN(r.frame, bus.ReadLastFrame(database));
  r.now = r.point.local;
  r.verdict = Covers(r.point, r.frame, r.now);
  if (!r.verdict.covered) {
    int attempts = 0;
    MaybeReadChecksum(r.point, read, attempts);
    r.verdict = Covers(r.point, r.frame, r.now);
  }
  r.waited = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
  return r;
}

Result<SyncResult> WaitForSync(Bus& bus, const std::string& database, const LocalReader& read,
                               const SyncOptions& options) {
  const auto start = Clock::now();
  const auto deadline = start + options.timeout;
  LTXBUS_ASSIGN_OR_RETURN(SyncResult r, CheckSync(bus, database, read));
  int checksum_attempts = r.point.state_checksum ? 0 : 1;
  Status last_error;
  // Quick looks first: a caught-up producer answers within milliseconds.
  milliseconds pause(5);
  while (!r.verdict.covered) {
    const auto now = Clock::now();
    if (now >= deadline) {
      return Status::Timeout(
          "database {}: the bus does not hold every transaction committed before the call after "
          "waiting {} ({}): at the call the database had {}; the bus's newest frame is {}.{} Is "
          "`ltxbus replicate` running for this database?",
          database, FormatWaited(options.timeout), r.verdict.why, r.point.local.Format(),
          FormatFrame(r.frame),
          last_error.ok() ? "" : fmt::format(" The last look failed: {}.", last_error.ToString()));
    }
    std::this_thread::sleep_for(
        std::min({pause, options.poll_interval,
                  std::chrono::duration_cast<milliseconds>(deadline - now) + milliseconds(1)}));
    pause = std::min(pause * 2, options.poll_interval);
    auto local = read(false);
    auto frame = bus.ReadLastFrame(database);
    if (!local.ok() || !frame.ok()) {
      // The producer or the bus may be restarting; keep looking until the
      // deadline.
      last_error = !frame.ok() ? frame.status() : local.status();
      continue;
    }
    last_error = Status::OK();
    r.now = std::move(*local);
    r.frame = std::move(*frame);
    r.verdict = Covers(r.point, r.frame, r.now);
    if (!r.verdict.covered && !r.point.state_checksum && NothingInWal(r.now)) {
      // The database is quiescent now: rule 3 may settle it.
      MaybeReadChecksum(r.point, read, checksum_attempts);
      r.verdict = Covers(r.point, r.frame, r.now);
    }
  }
  r.waited = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
  return r;
}

}  // namespace ltxbus::bus
