// libFuzzer target: ltx::DecodeFile over arbitrary bytes must return a Status,
// never crash, leak, hang or allocate more than a few pages.
//
// Each input is decoded twice: from one contiguous buffer, and through a
// source that returns short reads of varying sizes. The decoder has a fast
// path for frames wholly inside its read buffer and a copying path for frames
// that straddle reads; the two decodes must agree exactly (status, message,
// summary and every page), or the target aborts.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>

#include "base/crc64.h"
#include "base/env.h"
#include "ltx/decoder.h"

namespace ltxbus::ltx {
namespace {

// Returns 1..97 bytes per read, varying with the position, so reads split
// headers, size fields and frames at many different places.
class TrickleSource final : public SequentialFile {
 public:
  explicit TrickleSource(std::span<const uint8_t> data) : data_(data) {}
  Result<size_t> Read(std::span<uint8_t> dst) override {
    const size_t step = 1 + (pos_ * 7 + reads_++ * 13) % 97;
    const size_t n = std::min({dst.size(), step, data_.size() - pos_});
    std::copy_n(data_.begin() + static_cast<std::ptrdiff_t>(pos_), n, dst.begin());
    pos_ += n;
    return n;
  }

 private:
  std::span<const uint8_t> data_;
  size_t pos_ = 0;
  size_t reads_ = 0;
};

struct Outcome {
  std::string status;
  FileSummary summary;
  uint64_t pages_crc = 0;  // of (pgno, data) of every page returned
};

Outcome Decode(SequentialFile* src) {
  Outcome o;
  Crc64 pages;
  auto r = DecodeFile(src, [&pages](uint32_t pgno, std::span<const uint8_t> data) {
    pages.Update(std::span(reinterpret_cast<const uint8_t*>(&pgno), sizeof pgno));
    pages.Update(data);
    return Status::OK();
  });
  o.pages_crc = pages.Value();
  if (r.ok()) {
    o.summary = *r;
  } else {
    o.status = r.status().ToString();
  }
  return o;
}

bool Same(const Outcome& a, const Outcome& b) {
  return a.status == b.status && a.pages_crc == b.pages_crc &&
         a.summary.header == b.summary.header &&
         a.summary.trailer.post_apply_checksum == b.summary.trailer.post_apply_checksum &&
         a.summary.trailer.file_checksum == b.summary.trailer.file_checksum &&
         a.summary.page_count == b.summary.page_count && a.summary.size == b.summary.size;
}

}  // namespace
}  // namespace ltxbus::ltx

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ltxbus;
  const std::span<const uint8_t> input(data, size);
  SpanSource whole(input);
  const ltx::Outcome a = ltx::Decode(&whole);
  ltx::TrickleSource trickle(input);
  const ltx::Outcome b = ltx::Decode(&trickle);
  if (!ltx::Same(a, b)) {
    std::fprintf(stderr, "decoders disagree:\n  whole:   %s\n  trickle: %s\n", a.status.c_str(),
                 b.status.c_str());
    std::abort();
  }
  return 0;
}
