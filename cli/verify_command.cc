// `ltxbus verify`: check an archive's levels, checksum chain and
// restorability (docs/archive.md); exits 1 listing every problem found.
//
//   ltxbus verify STORE-URL
//   ltxbus verify -config FILE DB
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "cli/commands.h"
#include "config/config.h"
#include "consumer/verify.h"
#include "store/object_store.h"

namespace ltxbus::cli {
namespace {

struct VerifyCommandOptions {
  std::string source;
  std::string config_path;
  bool quiet = false;
};

Status RunVerify(const VerifyCommandOptions& o, CommandResult* result) {
  std::string url = o.source;
  if (!o.config_path.empty()) {
    LTXBUS_ASSIGN_OR_RETURN(config::Config c, config::Config::Load(o.config_path));
    url.clear();
    for (const auto& a : c.archive) {
      if (a.name == o.source) url = a.url;
    }
    if (url.empty()) {
      return Status::NotFound("{} has no archive for a database named '{}'", o.config_path,
                              o.source);
    }
  }
  LTXBUS_ASSIGN_OR_RETURN(std::unique_ptr<store::ObjectStore> store, store::Open(url));
  std::error_code ec;
  const std::string scratch =
      (std::filesystem::temp_directory_path(ec) / fmt::format("ltxbus-verify-{}", ::getpid()))
          .string();
  auto report = consumer::VerifyArchive(Env::Default(), *store, scratch);
  std::filesystem::remove_all(scratch, ec);
  if (!report.ok()) return report.status();
  for (const std::string& n : report->notes) {
    if (!o.quiet) std::printf("note: %s\n", n.c_str());
  }
  for (const std::string& p : report->problems) std::fprintf(stderr, "problem: %s\n", p.c_str());
  if (!report->ok()) {
    std::fprintf(stderr, "%s: %zu problems\n", store->url().c_str(), report->problems.size());
    result->exit_code = 1;
    return Status::OK();
  }
  if (!o.quiet) {
    std::printf(
        "%s: ok: %s (%s); L0 replayed %s..%s; latest TXID %s restores and passes "
        "integrity_check\n",
        store->url().c_str(), consumer::Summarize(report->files).c_str(),
        report->from_manifest ? "ltxbus manifest" : "no manifest",
        ltx::FormatTXID(report->replayed_from).c_str(),
        ltx::FormatTXID(report->replayed_to).c_str(), ltx::FormatTXID(report->latest_txid).c_str());
  }
  return Status::OK();
}

}  // namespace

void AddVerifyCommand(CLI::App& app, CommandResult* result) {
  auto o = std::make_shared<VerifyCommandOptions>();
  CLI::App* cmd =
      app.add_subcommand("verify", "Check an archive: levels, checksum chain, restorability");
  cmd->add_option("source", o->source, "Archive URL, or with -config an archived database's name")
      ->required();
  cmd->add_option("--config", o->config_path, "YAML config whose 'archive' list names SOURCE");
  cmd->add_flag("-q,--quiet", o->quiet, "Print only problems");
  cmd->callback([o, result] { result->status = RunVerify(*o, result); });
}

}  // namespace ltxbus::cli
