// Reading and writing Litestream v0.5 file-replica directories
// (`<root>/ltx/<decimal level>/<min>-<max>.ltx`, docs/ltx-format.md §8) for
// the interop tests, using only ltxbus's own codec. Layout, summaries and the
// restore plan come from the production code (consumer/archive_layout.h).
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "base/status.h"
#include "consumer/archive_layout.h"
#include "ltx/ltx.h"
#include "tests/support/ltx_builder.h"

namespace ltxbus::testing {

inline constexpr int kSnapshotLevel = consumer::kSnapshotLevel;

struct ArchiveFile {
  int level = 0;
  ltx::TXID min_txid = 0;
  ltx::TXID max_txid = 0;
  std::string path;

  std::string Describe() const;  // "L1 0000000000000004-0000000000000007"
  bool operator==(const ArchiveFile&) const = default;
};

// Every LTX file under `<root>/ltx/<level>/`, sorted by (level, MinTXID,
// MaxTXID) as Litestream's file backend lists them. Anything else found there
// (a name that is not `<16 hex>-<16 hex>.ltx`, a level directory that is not
// a number) is an error, because Litestream would ignore it silently; only
// `*.tmp` upload leftovers are skipped, as Litestream skips them.
Result<std::vector<ArchiveFile>> ListArchive(const std::string& root);
// For gtest failure messages.
void PrintTo(const ArchiveFile& file, std::ostream* os);
// "L9 …-…, L1 …-…, L0 …-…", eliding the middle of long lists.
std::string Summarize(const std::vector<ArchiveFile>& files);
std::vector<ArchiveFile> FilesAtLevel(const std::vector<ArchiveFile>& files, int level);
std::vector<std::string> PathsOf(const std::vector<ArchiveFile>& files);

// A file decoded and fully verified by ltxbus's ltx::Decoder.
struct DecodedFile {
  ltx::Header header;
  Pages pages;
  bool block_pages = false;  // some page used the v0.5.2 LZ4 block encoding
  bool frame_pages = false;  // some page used the legacy LZ4 frame encoding
};
Result<DecodedFile> DecodeLtxFile(const std::string& path);

// Applies a decoded file to an in-memory database image the way a restore
// does: pages are written, then the image is cut to Commit pages.
void ApplyToImage(const DecodedFile& file, Pages* image);

// Litestream's restore plan (docs/ltx-format.md §8.7, v0.5.8+), computed by
// the production code (consumer::PlanRestore) over these files.
Result<std::vector<ArchiveFile>> PlanRestore(const std::vector<ArchiveFile>& files,
                                             std::optional<ltx::TXID> target, bool use_snapshot);

// The pages of `cur` that an incremental LTX file must carry after `prev`:
// those whose bytes changed plus those beyond prev's size. The lock page is
// never included.
Pages ChangedPages(const Pages& prev, const Pages& cur, uint32_t page_size);

// Writes `pages` as `<root>/ltx/<level>/<min>-<max>.ltx` the way Litestream's
// file backend does: NoChecksum (pitfall P1), through a .tmp file renamed into
// place, with the file mtime set to the header Timestamp.
Status WriteArchiveFile(const std::string& root, int level, const ltx::Header& header,
                        const Pages& pages, ltx::PageEncoding encoding);

// The path a file of `level` covering [min, max] has under `root`.
std::string ArchivePath(const std::string& root, int level, ltx::TXID min_txid, ltx::TXID max_txid);

// A file's mtime in Unix milliseconds (truncated), or -1 if it cannot be
// read. Litestream sets it to the header Timestamp, and so does
// WriteArchiveFile.
int64_t ModTimeMillis(const std::string& path);

}  // namespace ltxbus::testing
