#include "tests/support/ltx_builder.h"

#include <gtest/gtest.h>

#include <random>

namespace ltxbus::testing {
namespace {
// mt19937 yields 32-bit values in a wider type; say so once.
struct Rng {
  explicit Rng(uint32_t seed) : gen(seed) {}
  uint32_t operator()() { return static_cast<uint32_t>(gen()); }
  std::mt19937 gen;
};
}  // namespace

Page MakePage(uint32_t size, uint32_t seed) {
  Page p(size, 0);
  Rng rng(seed);
  static constexpr char kWords[] = "alpha beta gamma delta epsilon zeta eta theta iota kappa ";
  const uint32_t used = size / 2 + rng() % (size / 3);
  for (uint32_t i = 0; i < used; i++) {
    if (i % 64 < 8) {
      p[i] = static_cast<uint8_t>(rng());
    } else {
      p[i] = static_cast<uint8_t>(kWords[(i + seed) % (sizeof kWords - 1)]);
    }
  }
  return p;
}

Page FilledPage(uint32_t size, uint8_t byte) { return Page(size, byte); }

std::string EncodeLtx(const ltx::Header& header, const Pages& pages, ltx::Checksum post_apply,
                      ltx::PageEncoding encoding) {
  StringSink sink;
  ltx::Encoder enc(&sink, {.encoding = encoding});
  Status s = enc.EncodeHeader(header);
  EXPECT_TRUE(s.ok()) << s.ToString();
  for (const auto& [pgno, data] : pages) {
    s = enc.EncodePage(pgno, data);
    EXPECT_TRUE(s.ok()) << s.ToString();
  }
  s = enc.Finish(post_apply);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return sink.contents();
}

ltx::Checksum ChecksumOf(const Pages& db) {
  ltx::DatabaseChecksum sum;
  for (const auto& [pgno, data] : db) sum.Add(ltx::PageChecksum(pgno, data));
  return sum.Value();
}

Chain MakeChain(uint32_t page_size, int length, uint32_t seed, bool checksums,
                ltx::PageEncoding encoding) {
  Chain chain;
  chain.page_size = page_size;
  Rng rng(seed);
  Pages db;
  uint32_t commit = 3 + rng() % 8;
  for (uint32_t p = 1; p <= commit; p++) db[p] = MakePage(page_size, rng());
  ltx::Header h;
  h.flags = checksums ? 0 : ltx::kHeaderFlagNoChecksum;
  h.page_size = page_size;
  h.commit = commit;
  h.min_txid = h.max_txid = 1;
  h.timestamp_ms = 1700000000000;
  chain.files.push_back(EncodeLtx(h, db, checksums ? ChecksumOf(db) : 0, encoding));
  chain.states.push_back(db);
  for (int i = 1; i < length; i++) {
    Pages changed;
    const ltx::Checksum pre = ChecksumOf(db);
    uint32_t new_commit = commit;
    int r = static_cast<int>(rng() % 10);
    if (r < 2) new_commit = commit + 1 + rng() % 4;                 // grow
    if (r == 2 && commit > 3) new_commit = commit - 1 - rng() % 2;  // shrink
    for (uint32_t p = commit + 1; p <= new_commit; p++) changed[p] = MakePage(page_size, rng());
    for (int k = 0; k < 3; k++) {
      uint32_t p = 1 + rng() % new_commit;
      changed[p] = MakePage(page_size, rng());
    }
    for (auto& [p, data] : changed) db[p] = data;
    while (!db.empty() && db.rbegin()->first > new_commit) db.erase(std::prev(db.end()));
    commit = new_commit;
    ltx::Header ih = h;
    ih.commit = commit;
    ih.min_txid = ih.max_txid = static_cast<ltx::TXID>(i + 1);
    ih.timestamp_ms = h.timestamp_ms + i * 1000;
    ih.pre_apply_checksum = checksums ? pre : 0;
    chain.files.push_back(EncodeLtx(ih, changed, checksums ? ChecksumOf(db) : 0, encoding));
    chain.states.push_back(db);
  }
  return chain;
}

}  // namespace ltxbus::testing
