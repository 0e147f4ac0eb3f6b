#include "tests/integration/litestream_archive.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>
#include <charconv>
#include <tuple>

#include "base/env.h"
#include "consumer/archive_layout.h"
#include "ltx/decoder.h"
#include "ltx/encoder.h"

namespace ltxbus::testing {

namespace {

// The production form (consumer/archive_layout.h) of a file under a replica
// directory: the key is the path, so plans map back one to one.
consumer::ArchiveFile ToConsumer(const ArchiveFile& f) {
  consumer::ArchiveFile c;
  c.level = f.level;
  c.min_txid = f.min_txid;
  c.max_txid = f.max_txid;
  c.key = f.path;
  return c;
}

std::vector<consumer::ArchiveFile> ToConsumer(const std::vector<ArchiveFile>& files) {
  std::vector<consumer::ArchiveFile> out;
  for (const ArchiveFile& f : files) out.push_back(ToConsumer(f));
  return out;
}

}  // namespace

std::string ArchiveFile::Describe() const { return ToConsumer(*this).Describe(); }

void PrintTo(const ArchiveFile& file, std::ostream* os) { *os << file.Describe(); }

std::string Summarize(const std::vector<ArchiveFile>& files) {
  return consumer::Summarize(ToConsumer(files));
}

std::string ArchivePath(const std::string& root, int level, ltx::TXID min_txid,
                        ltx::TXID max_txid) {
  return root + "/" + consumer::ArchiveLayout("file").Key(level, min_txid, max_txid);
}

int64_t ModTimeMillis(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return -1;
  return int64_t{st.st_mtim.tv_sec} * 1000 + st.st_mtim.tv_nsec / 1'000'000;
}

Result<std::vector<ArchiveFile>> ListArchive(const std::string& root) {
  Env* env = Env::Default();
  const std::string ltx_dir = root + "/ltx";
  LTXBUS_ASSIGN_OR_RETURN(std::vector<std::string> levels, env->ListDir(ltx_dir));
  std::vector<ArchiveFile> files;
  for (const std::string& level_name : levels) {
    int level = -1;
    auto [end, ec] =
        std::from_chars(level_name.data(), level_name.data() + level_name.size(), level);
    if (ec != std::errc() || end != level_name.data() + level_name.size() || level < 0 ||
        level > kSnapshotLevel || fmt::format("{}", level) != level_name) {
      return Status::Corruption("{}: unexpected level directory {:?}", ltx_dir, level_name);
    }
    const std::string dir = ltx_dir + "/" + level_name;
    LTXBUS_ASSIGN_OR_RETURN(std::vector<std::string> names, env->ListDir(dir));
    for (const std::string& name : names) {
      // A file being uploaded (or abandoned mid-upload); Litestream skips these too.
      if (name.ends_with(".tmp")) continue;
      auto range = ltx::ParseFilename(name);
      if (!range) return Status::Corruption("{}: unexpected file {:?}", dir, name);
      files.push_back({level, range->first, range->second, dir + "/" + name});
    }
  }
  std::sort(files.begin(), files.end(), [](const ArchiveFile& a, const ArchiveFile& b) {
    return std::tie(a.level, a.min_txid, a.max_txid) < std::tie(b.level, b.min_txid, b.max_txid);
  });
  return files;
}

std::vector<ArchiveFile> FilesAtLevel(const std::vector<ArchiveFile>& files, int level) {
  std::vector<ArchiveFile> out;
  for (const ArchiveFile& f : files) {
    if (f.level == level) out.push_back(f);
  }
  return out;
}

std::vector<std::string> PathsOf(const std::vector<ArchiveFile>& files) {
  std::vector<std::string> out;
  for (const ArchiveFile& f : files) out.push_back(f.path);
  return out;
}

Result<DecodedFile> DecodeLtxFile(const std::string& path) {
  LTXBUS_ASSIGN_OR_RETURN(auto src, Env::Default()->NewSequentialFile(path));
  ltx::Decoder dec(src.get());
  LTXBUS_RETURN_IF_ERROR(dec.DecodeHeader().WithContext(path));
  DecodedFile out;
  std::vector<uint8_t> page(dec.header().page_size);
  for (;;) {
    uint32_t pgno = 0;
    auto more = dec.NextPage(&pgno, page);
    if (!more.ok()) return more.status().WithContext(path);
    if (!*more) break;
    out.pages[pgno] = page;
  }
  LTXBUS_RETURN_IF_ERROR(dec.Finish().WithContext(path));
  out.header = dec.header();
  out.block_pages = dec.saw_block_pages();
  out.frame_pages = dec.saw_frame_pages();
  return out;
}

void ApplyToImage(const DecodedFile& file, Pages* image) {
  for (const auto& [pgno, data] : file.pages) (*image)[pgno] = data;
  image->erase(image->upper_bound(file.header.commit), image->end());
}

Result<std::vector<ArchiveFile>> PlanRestore(const std::vector<ArchiveFile>& files,
                                             std::optional<ltx::TXID> target, bool use_snapshot) {
  consumer::RestoreTarget t;
  t.txid = target;
  LTXBUS_ASSIGN_OR_RETURN(std::vector<consumer::ArchiveFile> plan,
                          consumer::PlanRestore(ToConsumer(files), t, use_snapshot));
  std::vector<ArchiveFile> out;
  for (const consumer::ArchiveFile& c : plan)
    out.push_back({c.level, c.min_txid, c.max_txid, c.key});
  return out;
}

Pages ChangedPages(const Pages& prev, const Pages& cur, uint32_t page_size) {
  Pages out;
  const uint32_t lock = ltx::LockPgno(page_size);
  for (const auto& [pgno, data] : cur) {
    if (pgno == lock) continue;
    auto it = prev.find(pgno);
    if (it == prev.end() || it->second != data) out[pgno] = data;
  }
  return out;
}

Status WriteArchiveFile(const std::string& root, int level, const ltx::Header& header,
                        const Pages& pages, ltx::PageEncoding encoding) {
  if (header.HasChecksums()) {
    return Status::InvalidArgument("Litestream archives hold NoChecksum files only");
  }
  Env* env = Env::Default();
  const std::string path = ArchivePath(root, level, header.min_txid, header.max_txid);
  const std::string tmp = path + ".tmp";
  LTXBUS_RETURN_IF_ERROR(env->CreateDirs(fmt::format("{}/ltx/{}", root, level)));
  {
    LTXBUS_ASSIGN_OR_RETURN(auto out, env->NewWritableFile(tmp));
    ltx::Encoder enc(out.get(), {.encoding = encoding});
    LTXBUS_RETURN_IF_ERROR(enc.EncodeHeader(header));
    for (const auto& [pgno, data] : pages) LTXBUS_RETURN_IF_ERROR(enc.EncodePage(pgno, data));
    LTXBUS_RETURN_IF_ERROR(enc.Finish(0));
    LTXBUS_RETURN_IF_ERROR(out->Sync());
    LTXBUS_RETURN_IF_ERROR(out->Close());
  }
  LTXBUS_RETURN_IF_ERROR(env->RenameFile(tmp, path));
  return env->SetModTime(path, header.timestamp_ms);
}

}  // namespace ltxbus::testing
