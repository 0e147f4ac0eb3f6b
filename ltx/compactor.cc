#include "ltx/compactor.h"

#include <memory>
#include <vector>

#include "ltx/decoder.h"

namespace ltxbus::ltx {

Status CheckChain(const Header& prev, const Trailer& prev_trailer, const Header& next) {
  if (next.page_size != prev.page_size) {
    return Status::Corruption("page size changes from {} to {}", prev.page_size, next.page_size);
  }
  if (next.min_txid > prev.max_txid + 1) {
    return Status::Corruption("TXID gap: {} ends at {} but the next file starts at {}",
                              FormatFilename(prev.min_txid, prev.max_txid),
                              FormatTXID(prev.max_txid), FormatTXID(next.min_txid));
  }
  if (next.max_txid <= prev.max_txid) {
    return Status::Corruption("TXIDs not increasing: {} after {}",
                              FormatFilename(next.min_txid, next.max_txid),
                              FormatFilename(prev.min_txid, prev.max_txid));
  }
  if (next.min_txid == prev.max_txid + 1 && prev.HasChecksums() && next.HasChecksums() &&
      !next.IsSnapshot() && next.pre_apply_checksum != prev_trailer.post_apply_checksum) {
    return Status::Corruption(
        "checksum chain broken between {} and {}: post-apply {:016x} != pre-apply {:016x}",
        FormatFilename(prev.min_txid, prev.max_txid), FormatFilename(next.min_txid, next.max_txid),
        prev_trailer.post_apply_checksum, next.pre_apply_checksum);
  }
  return Status::OK();
}

Result<Header> Compact(std::span<SequentialFile* const> inputs, WritableFile* out,
                       const CompactOptions& options) {
  if (inputs.empty()) return Status::InvalidArgument("compact: no input files");
  struct Input {
    std::unique_ptr<Decoder> dec;
    std::vector<uint8_t> page;
    uint32_t pgno = 0;
    bool done = false;
  };
  std::vector<Input> in(inputs.size());
  bool all_checksums = true;
  for (size_t i = 0; i < inputs.size(); i++) {
    in[i].dec = std::make_unique<Decoder>(inputs[i]);
    LTXBUS_RETURN_IF_ERROR(in[i].dec->DecodeHeader().WithContext(fmt::format("input {}", i + 1)));
    const Header& h = in[i].dec->header();
    all_checksums = all_checksums && h.HasChecksums();
    if (i > 0) {
      const Header& p = in[i - 1].dec->header();
      if (h.page_size != p.page_size) {
        return Status::InvalidArgument("compact: input {} has page size {}, input 1 has {}", i + 1,
                                       h.page_size, p.page_size);
      }
      // Checksum links are checked once trailers are known (below).
      LTXBUS_RETURN_IF_ERROR(
          CheckChain(p, Trailer{h.pre_apply_checksum, 0}, h).WithContext("compact"));
    }
    in[i].page.resize(h.page_size);
  }
  const Header& first = in.front().dec->header();
  const Header& last = in.back().dec->header();
  const bool keep_checksums =
      options.checksums == CompactOptions::Checksums::kAuto && all_checksums;
  Header h;
  h.flags = keep_checksums ? 0 : kHeaderFlagNoChecksum;
  h.page_size = first.page_size;
  h.commit = last.commit;
  h.min_txid = first.min_txid;
  h.max_txid = last.max_txid;
  h.timestamp_ms = last.timestamp_ms;
  h.pre_apply_checksum = keep_checksums ? first.pre_apply_checksum : 0;

  Encoder enc(out, options.encoder);
  LTXBUS_RETURN_IF_ERROR(enc.EncodeHeader(h));
  auto advance = [](Input& x) -> Status {
    LTXBUS_ASSIGN_OR_RETURN(bool more, x.dec->NextPage(&x.pgno, x.page));
    x.done = !more;
    return Status::OK();
  };
  for (auto& x : in) LTXBUS_RETURN_IF_ERROR(advance(x));
  for (;;) {
    uint32_t pgno = 0;
    for (auto& x : in) {
      if (!x.done && (pgno == 0 || x.pgno < pgno)) pgno = x.pgno;
    }
    if (pgno == 0) break;
    Input* winner = nullptr;
    for (auto& x : in) {
      if (!x.done && x.pgno == pgno) winner = &x;  // later inputs are newer
    }
    if (pgno <= h.commit) LTXBUS_RETURN_IF_ERROR(enc.EncodePage(pgno, winner->page));
    for (auto& x : in) {
      if (!x.done && x.pgno == pgno) LTXBUS_RETURN_IF_ERROR(advance(x));
    }
  }
  for (size_t i = 0; i < in.size(); i++) {
    LTXBUS_RETURN_IF_ERROR(in[i].dec->Finish().WithContext(fmt::format("input {}", i + 1)));
    if (i > 0) {
      LTXBUS_RETURN_IF_ERROR(
          CheckChain(in[i - 1].dec->header(), in[i - 1].dec->trailer(), in[i].dec->header())
              .WithContext("compact"));
    }
  }
  LTXBUS_RETURN_IF_ERROR(
      enc.Finish(keep_checksums ? in.back().dec->trailer().post_apply_checksum : 0));
  return h;
}

}  // namespace ltxbus::ltx
