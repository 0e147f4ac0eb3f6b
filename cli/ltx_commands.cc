#include "cli/commands.h"

#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/env.h"
#include "ltx/apply.h"
#include "ltx/checksum.h"
#include "ltx/compactor.h"
#include "ltx/decoder.h"
#include "sqlite/snapshot.h"

namespace ltxbus::cli {
namespace {

using ltx::FormatTXID;

std::string Hex(uint64_t v) { return fmt::format("{:016x}", v); }

nlohmann::json HeaderJson(const ltx::Header& h) {
  return {{"flags", h.flags},
          {"no_checksum", !h.HasChecksums()},
          {"page_size", h.page_size},
          {"commit", h.commit},
          {"min_txid", FormatTXID(h.min_txid)},
          {"max_txid", FormatTXID(h.max_txid)},
          {"timestamp_ms", h.timestamp_ms},
          {"pre_apply_checksum", Hex(h.pre_apply_checksum)},
          {"wal_offset", h.wal_offset},
          {"wal_size", h.wal_size},
          {"wal_salt1", h.wal_salt1},
          {"wal_salt2", h.wal_salt2},
          {"node_id", h.node_id},
          {"snapshot", h.IsSnapshot()}};
}

Status Dump(const std::string& path, bool as_json) {
  Env* env = Env::Default();
  LTXBUS_ASSIGN_OR_RETURN(auto src, env->NewSequentialFile(path));
  ltx::Decoder dec(src.get());
  LTXBUS_RETURN_IF_ERROR(dec.DecodeHeader().WithContext(path));
  const ltx::Header& h = dec.header();
  nlohmann::json pages = nlohmann::json::array();
  if (!as_json) {
    std::printf("Header:\n  Flags:       0x%08x%s\n  Page size:   %u\n  Commit:      %u\n", h.flags,
                h.HasChecksums() ? "" : " (NoChecksum)", h.page_size, h.commit);
    std::printf("  Min TXID:    %s\n  Max TXID:    %s\n  Timestamp:   %lld ms\n",
                FormatTXID(h.min_txid).c_str(), FormatTXID(h.max_txid).c_str(),
                static_cast<long long>(h.timestamp_ms));
    std::printf("  Pre-apply:   %s\n  WAL:         offset %lld size %lld salts %08x/%08x\n",
                Hex(h.pre_apply_checksum).c_str(), static_cast<long long>(h.wal_offset),
                static_cast<long long>(h.wal_size), h.wal_salt1, h.wal_salt2);
    std::printf("  Node ID:     %llu\n\nPages:\n", static_cast<unsigned long long>(h.node_id));
  }
  std::vector<uint8_t> page(h.page_size);
  for (;;) {
    uint32_t pgno = 0;
    auto more = dec.NextPage(&pgno, page);
    LTXBUS_RETURN_IF_ERROR(more.status().WithContext(path));
    if (!*more) break;
    const ltx::Checksum cs = ltx::PageChecksum(pgno, page);
    if (as_json) {
      pages.push_back({{"pgno", pgno},
                       {"offset", dec.last_frame_offset()},
                       {"size", dec.last_frame_size()},
                       {"checksum", Hex(cs)}});
    } else {
      std::printf("  %10u  offset=%-10llu size=%-6llu checksum=%s\n", pgno,
                  static_cast<unsigned long long>(dec.last_frame_offset()),
                  static_cast<unsigned long long>(dec.last_frame_size()), Hex(cs).c_str());
    }
  }
  LTXBUS_RETURN_IF_ERROR(dec.Finish().WithContext(path));
  const std::string encoding = dec.saw_block_pages() && dec.saw_frame_pages() ? "mixed"
                               : dec.saw_block_pages()                        ? "block"
                               : dec.saw_frame_pages()                        ? "frame"
                                                                              : "none";
  if (as_json) {
    nlohmann::json j = {{"file", path},
                        {"header", HeaderJson(h)},
                        {"page_encoding", encoding},
                        {"pages", pages},
                        {"trailer",
                         {{"post_apply_checksum", Hex(dec.trailer().post_apply_checksum)},
                          {"file_checksum", Hex(dec.trailer().file_checksum)}}},
                        {"size", dec.bytes_read()}};
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    std::printf(
        "\nTrailer:\n  Post-apply:  %s\n  File:        %s\n\n%u pages, %s encoding, %llu bytes\n",
        Hex(dec.trailer().post_apply_checksum).c_str(), Hex(dec.trailer().file_checksum).c_str(),
        dec.page_count(), encoding.c_str(), static_cast<unsigned long long>(dec.bytes_read()));
  }
  return Status::OK();
}

Status Verify(const std::vector<std::string>& paths, bool quiet) {
  Env* env = Env::Default();
  bool have_prev = false;
  ltx::FileSummary prev;
  std::string prev_path;
  for (const auto& path : paths) {
    LTXBUS_ASSIGN_OR_RETURN(auto src, env->NewSequentialFile(path));
    auto summary = ltx::DecodeFile(src.get());
    LTXBUS_RETURN_IF_ERROR(summary.status().WithContext(path));
    if (have_prev) {
      LTXBUS_RETURN_IF_ERROR(ltx::CheckChain(prev.header, prev.trailer, summary->header)
                                 .WithContext(fmt::format("{} -> {}", prev_path, path)));
    }
    if (!quiet) {
      std::printf("%s: ok (TXID %s-%s, %u pages, commit %u)\n", path.c_str(),
                  FormatTXID(summary->header.min_txid).c_str(),
                  FormatTXID(summary->header.max_txid).c_str(), summary->page_count,
                  summary->header.commit);
    }
    prev = *summary;
    prev_path = path;
    have_prev = true;
  }
  if (!quiet && paths.size() > 1) {
    std::printf("chain ok: %zu files, contiguous TXIDs and checksums\n", paths.size());
  }
  return Status::OK();
}

Status Compact(const std::vector<std::string>& paths, const std::string& out_path,
               const std::string& encoding, bool no_checksum) {
  Env* env = Env::Default();
  ltx::CompactOptions options;
  LTXBUS_ASSIGN_OR_RETURN(options.encoder.encoding, ltx::ParsePageEncoding(encoding));
  if (no_checksum) options.checksums = ltx::CompactOptions::Checksums::kOff;
  std::vector<std::unique_ptr<SequentialFile>> files;
  std::vector<SequentialFile*> inputs;
  for (const auto& p : paths) {
    LTXBUS_ASSIGN_OR_RETURN(auto f, env->NewSequentialFile(p));
    inputs.push_back(f.get());
    files.push_back(std::move(f));
  }
  // Written beside the output and renamed into place only when complete, so a
  // failed compaction never leaves a plausible-looking file behind.
  Result<ltx::Header> header = Status::Internal("not run");
  LTXBUS_RETURN_IF_ERROR(WriteFileAtomicWith(env, out_path, [&](WritableFile* out) {
    header = ltx::Compact(inputs, out, options);
    return header.status();
  }));
  std::printf("%s: TXID %s-%s, commit %u\n", out_path.c_str(), FormatTXID(header->min_txid).c_str(),
              FormatTXID(header->max_txid).c_str(), header->commit);
  return Status::OK();
}

Status Apply(const std::string& db, const std::vector<std::string>& paths) {
  LTXBUS_ASSIGN_OR_RETURN(auto applier, ltx::DatabaseFileApplier::Open(Env::Default(), db));
  for (const auto& p : paths) {
    LTXBUS_RETURN_IF_ERROR(applier->ApplyFile(p));
  }
  LTXBUS_RETURN_IF_ERROR(applier->Sync());
  std::printf("%s: applied %zu files, TXID %s, %u pages of %u bytes\n", db.c_str(), paths.size(),
              FormatTXID(applier->txid()).c_str(), applier->page_count(), applier->page_size());
  return Status::OK();
}

Status EncodeDb(const std::string& db, const std::string& out_path, const std::string& encoding,
                uint64_t txid, bool no_checksum) {
  Env* env = Env::Default();
  sqlite::SnapshotOptions options;
  options.txid = txid;
  options.checksums = !no_checksum;
  LTXBUS_ASSIGN_OR_RETURN(options.encoder.encoding, ltx::ParsePageEncoding(encoding));
  Result<ltx::Header> header = Status::Internal("not run");
  LTXBUS_RETURN_IF_ERROR(WriteFileAtomicWith(env, out_path, [&](WritableFile* out) {
    header = sqlite::EncodeSnapshot(db, out, options);
    return header.status();
  }));
  std::printf("%s: snapshot of %s, TXID %s-%s, %u pages of %u bytes\n", out_path.c_str(),
              db.c_str(), FormatTXID(header->min_txid).c_str(),
              FormatTXID(header->max_txid).c_str(), header->commit, header->page_size);
  return Status::OK();
}

}  // namespace

void AddLtxCommands(CLI::App& app, CommandResult* result) {
  CLI::App* ltx = app.add_subcommand("ltx", "Inspect, verify, compact and apply LTX files");
  ltx->require_subcommand(1);

  struct Options {
    std::string file, out, db, encoding = "frame";
    uint64_t txid = 1;
    std::vector<std::string> files;
    bool json = false, quiet = false, no_checksum = false;
  };
  auto opt = std::make_shared<Options>();

  CLI::App* dump = ltx->add_subcommand("dump", "Print a file's header, pages and checksums");
  dump->add_option("file", opt->file, "LTX file")->required();
  dump->add_flag("--json", opt->json, "Print JSON");
  dump->callback([opt, result] { result->status = Dump(opt->file, opt->json); });

  CLI::App* verify = ltx->add_subcommand(
      "verify", "Verify files; given several, also their TXID and checksum chain");
  verify->add_option("files", opt->files, "LTX files in TXID order")->required();
  verify->add_flag("-q,--quiet", opt->quiet, "Print nothing on success");
  verify->callback([opt, result] { result->status = Verify(opt->files, opt->quiet); });

  CLI::App* compact = ltx->add_subcommand("compact", "Merge a contiguous run of files into one");
  compact->add_option("-o,--out", opt->out, "Output file")->required();
  compact->add_option("--encoding", opt->encoding,
                      "Page encoding: frame (every Litestream v0.5.x) or block (v0.5.16+)");
  compact->add_flag("--no-checksum", opt->no_checksum,
                    "Drop database checksums (as Litestream archives want)");
  compact->add_option("files", opt->files, "LTX files in TXID order")->required();
  compact->callback([opt, result] {
    result->status = Compact(opt->files, opt->out, opt->encoding, opt->no_checksum);
  });

  CLI::App* encode_db = ltx->add_subcommand(
      "encode-db", "Write a snapshot of a database (live WAL databases included) as one LTX file");
  encode_db->add_option("db", opt->db, "SQLite database")->required();
  encode_db->add_option("-o,--out", opt->out, "Output LTX file")->required();
  encode_db->add_option("--encoding", opt->encoding, "Page encoding: frame or block");
  encode_db->add_option("--txid", opt->txid, "Snapshot TXID (the file covers 1..TXID)")
      ->check(CLI::PositiveNumber);
  encode_db->add_flag("--no-checksum", opt->no_checksum, "Do not track the database checksum");
  encode_db->callback([opt, result] {
    result->status = EncodeDb(opt->db, opt->out, opt->encoding, opt->txid, opt->no_checksum);
  });

  CLI::App* apply =
      ltx->add_subcommand("apply", "Apply files to a database file that nothing else has open");
  apply->add_option("--db", opt->db, "Database file (created if missing)")->required();
  apply->add_option("files", opt->files, "LTX files in TXID order")->required();
  apply->callback([opt, result] { result->status = Apply(opt->db, opt->files); });
}

}  // namespace ltxbus::cli
