// Builds LTX files in memory for tests.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "ltx/checksum.h"
#include "ltx/encoder.h"
#include "ltx/ltx.h"

namespace ltxbus::testing {

using Page = std::vector<uint8_t>;
using Pages = std::map<uint32_t, Page>;

// A page of `size` bytes that compresses like real SQLite pages do: a few
// structured bytes, text-like runs and a zero tail, varied by `seed`.
Page MakePage(uint32_t size, uint32_t seed);
Page FilledPage(uint32_t size, uint8_t byte);

// Encodes `pages` (ascending) under `header`; the post-apply checksum is
// taken as given. Aborts the test on encoder errors.
std::string EncodeLtx(const ltx::Header& header, const Pages& pages, ltx::Checksum post_apply,
                      ltx::PageEncoding encoding = ltx::PageEncoding::kLZ4Frame);

// The database checksum of a full database image.
ltx::Checksum ChecksumOf(const Pages& db);

// A simulated database: a chain of LTX files with database checksums, each
// changing some pages, growing or shrinking, built from a random seed.
struct Chain {
  uint32_t page_size = 4096;
  std::vector<std::string> files;  // files[0] is a snapshot (TXID 1)
  std::vector<Pages> states;       // states[i] = database after files[i]
};
Chain MakeChain(uint32_t page_size, int length, uint32_t seed, bool checksums,
                ltx::PageEncoding encoding = ltx::PageEncoding::kLZ4Frame);

}  // namespace ltxbus::testing
