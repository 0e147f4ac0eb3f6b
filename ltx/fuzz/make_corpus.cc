// Writes a seed corpus for ltx_decoder_fuzz: small valid LTX files in both
// page encodings, several page sizes, snapshots and incremental files, with
// and without database checksums, plus a few shapes worth reaching (an empty
// snapshot, incompressible pages, pages around the lock page).
//
//   ltx_make_corpus DIR
#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "base/env.h"
#include "ltx/checksum.h"
#include "ltx/decoder.h"
#include "ltx/encoder.h"
#include "ltx/ltx.h"

namespace ltxbus::ltx {
namespace {

using Page = std::vector<uint8_t>;
using Pages = std::map<uint32_t, Page>;

// Mostly compressible, like SQLite pages, so seeds stay small: a header-ish
// prefix, repeated text and a zero tail. `random` pages are incompressible
// (LZ4 frames then store the block uncompressed).
Page MakePage(uint32_t size, uint32_t seed, bool random) {
  Page p(size, 0);
  std::mt19937 rng(seed);
  static constexpr char kText[] = "INSERT INTO t VALUES('hello world', 42); ";
  const uint32_t used = random ? size : size / 4 + static_cast<uint32_t>(rng() % (size / 4));
  for (uint32_t i = 0; i < used; i++) {
    p[i] = random || i < 12 ? static_cast<uint8_t>(rng())
                            : static_cast<uint8_t>(kText[(i + seed) % (sizeof kText - 1)]);
  }
  return p;
}

Result<std::string> Encode(const Header& h, const Pages& pages, PageEncoding enc) {
  StringSink sink;
  Encoder e(&sink, {.encoding = enc});
  LTXBUS_RETURN_IF_ERROR(e.EncodeHeader(h));
  DatabaseChecksum post(h.pre_apply_checksum);
  for (const auto& [pgno, data] : pages) {
    LTXBUS_RETURN_IF_ERROR(e.EncodePage(pgno, data));
    post.Add(PageChecksum(pgno, data));  // for snapshots: the whole database
  }
  // Incremental files cannot know the old page contents here, so their
  // post-apply checksum is an arbitrary valid value: the decoder only checks
  // snapshots' against the pages.
  const Checksum value = !h.HasChecksums() ? 0
                         : h.IsSnapshot()  ? post.Value()
                                           : kChecksumFlag | 0x1234567890abull;
  LTXBUS_RETURN_IF_ERROR(e.Finish(value));
  return std::move(sink.contents());
}

struct Writer {
  std::string dir;
  int written = 0;
  int failed = 0;
  void Write(const std::string& name, const Header& h, const Pages& pages, PageEncoding enc) {
    auto file = Encode(h, pages, enc);
    if (!file.ok()) {
      std::fprintf(stderr, "skipping %s: %s\n", name.c_str(), file.status().ToString().c_str());
      failed++;
      return;
    }
    // A seed must be valid, or the fuzzer starts from the wrong place.
    SpanSource src(AsBytes(*file));
    if (auto d = DecodeFile(&src); !d.ok()) {
      std::fprintf(stderr, "%s does not decode: %s\n", name.c_str(), d.status().ToString().c_str());
      failed++;
      return;
    }
    const std::string path = dir + "/" + name + "-" + std::string(PageEncodingName(enc)) + ".ltx";
    if (Status s = WriteFileAtomic(Env::Default(), path, AsBytes(*file)); !s.ok()) {
      std::fprintf(stderr, "%s\n", s.ToString().c_str());
      failed++;
      return;
    }
    written++;
  }
};

Header MakeHeader(uint32_t page_size, uint32_t commit, TXID min, TXID max, bool checksums) {
  Header h;
  h.flags = checksums ? 0 : kHeaderFlagNoChecksum;
  h.page_size = page_size;
  h.commit = commit;
  h.min_txid = min;
  h.max_txid = max;
  h.timestamp_ms = 1'700'000'000'000;
  if (min > 1 && checksums) h.pre_apply_checksum = kChecksumFlag | 0xfeedull;
  return h;
}

int Run(const std::string& dir) {
  if (Status s = Env::Default()->CreateDirs(dir); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 1;
  }
  Writer w{dir};
  for (PageEncoding enc : {PageEncoding::kLZ4Frame, PageEncoding::kLZ4Block}) {
    for (uint32_t ps : {512u, 1024u, 4096u, 65536u}) {
      for (bool cs : {true, false}) {
        const std::string base = "p" + std::to_string(ps) + (cs ? "-checksums" : "-nochecksums");
        const uint32_t n = ps >= 65536 ? 2 : ps >= 4096 ? 3 : 5;
        Pages snap;
        for (uint32_t p = 1; p <= n; p++) snap[p] = MakePage(ps, p, false);
        w.Write(base + "-snapshot", MakeHeader(ps, n, 1, 3, cs), snap, enc);
        Pages inc;
        inc[2] = MakePage(ps, 20, false);
        inc[n + 1] = MakePage(ps, 21, false);
        w.Write(base + "-incremental", MakeHeader(ps, n + 2, 4, 7, cs), inc, enc);
      }
    }
    // Shapes the loops above miss.
    w.Write("empty-snapshot", MakeHeader(4096, 0, 1, 1, true), {}, enc);
    w.Write("empty-incremental", MakeHeader(4096, 9, 5, 5, false), {}, enc);
    Pages random;
    for (uint32_t p = 1; p <= 3; p++) random[p] = MakePage(512, p, p != 2);
    w.Write("incompressible", MakeHeader(512, 3, 1, 1, true), random, enc);
    const uint32_t lock = LockPgno(512);
    Pages around_lock;
    around_lock[lock - 1] = MakePage(512, 1, false);
    around_lock[lock + 1] = MakePage(512, 2, false);
    w.Write("around-lock-page", MakeHeader(512, lock + 5, 2, 2, false), around_lock, enc);
  }
  std::printf("wrote %d seed files to %s\n", w.written, dir.c_str());
  return w.failed == 0 ? 0 : 1;
}

}  // namespace
}  // namespace ltxbus::ltx

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  return ltxbus::ltx::Run(argv[1]);
}
