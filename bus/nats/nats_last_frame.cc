// The newest complete frame of a database on NATS: the walk back from the
// subject's last message that a restarted producer (Publisher::Open) and a
// reader (Bus::ReadLastFrame, `ltxbus sync`) share.
//
// A frame's chunks are contiguous on the subject (every publish is fenced on
// its predecessor, see nats_publish.h), and its attempt id is the sequence of
// the message before its chunk 0. So from a message that is not the last of
// its frame, one step to that sequence skips the whole incomplete frame.
#include <charconv>

#include "bus/nats/nats_internal.h"

namespace ltxbus::bus::nats {

Result<SubjectTail> ReadSubjectTail(const Connection& conn, const std::string& database,
                                    Millis timeout) {
  const std::string subject = conn.SubjectFor(database);
  LTXBUS_ASSIGN_OR_RETURN(auto last, conn.GetLastMsg(subject, timeout));
  SubjectTail tail;
  if (!last.has_value()) return tail;
  MsgPtr msg = std::move(*last);
  tail.seq = natsMsg_GetSequence(msg.get());
  for (bool first = true;; first = false) {
    const uint64_t seq = natsMsg_GetSequence(msg.get());
    auto where = [&] {
      return fmt::format("database {}: the message at stream sequence {} on {}", database, seq,
                         subject);
    };
    auto h = DecodeChunkHeaders(msg.get());
    if (!h.ok()) return h.status().WithContext(where());
    if (h->frame.database != database) {
      return Status::Corruption("{} belongs to database '{}'", where(), h->frame.database);
    }
    if (first) tail.headers = *h;
    if (h->last) {
      tail.frame = LastFrame{h->frame, h->trailer, seq};
      return tail;
    }
    uint64_t before = 0;
    const std::string& a = h->frame.attempt;
    auto [p, ec] = std::from_chars(a.data(), a.data() + a.size(), before);
    if (ec != std::errc() || p != a.data() + a.size() || before >= seq) {
      return Status::Corruption("{} has attempt '{}', not an earlier stream sequence", where(), a);
    }
    if (before == 0) return tail;
    LTXBUS_ASSIGN_OR_RETURN(auto prev, conn.GetMsg(before, timeout));
    // Removed by the stream's limits: no complete frame is left before it.
    if (!prev.has_value()) return tail;
    const char* prev_subject = natsMsg_GetSubject(prev->get());
    if (prev_subject == nullptr || subject != prev_subject) {
      return Status::Corruption("{} names sequence {} as its predecessor, which is on {}", where(),
                                before, prev_subject == nullptr ? "?" : prev_subject);
    }
    msg = std::move(*prev);
  }
}

}  // namespace ltxbus::bus::nats
