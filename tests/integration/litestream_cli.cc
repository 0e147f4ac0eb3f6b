#include "tests/integration/litestream_cli.h"

#include <signal.h>

#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

namespace ltxbus::testing {
namespace {

// Where scripts/install-deps.sh puts a tool binary: $LTXBUS_TOOLS/bin, else
// ${XDG_CACHE_HOME:-$HOME/.cache}/ltxbus/bin, as scripts/lib.sh decides.
std::string ToolPath(const std::string& name) {
  std::string tools;
  if (const char* t = std::getenv("LTXBUS_TOOLS"); t != nullptr && *t != '\0') {
    tools = t;
  } else if (const char* x = std::getenv("XDG_CACHE_HOME"); x != nullptr && *x != '\0') {
    tools = std::string(x) + "/ltxbus";
  } else if (const char* h = std::getenv("HOME"); h != nullptr) {
    tools = std::string(h) + "/.cache/ltxbus";
  }
  return tools + "/bin/" + name;
}

std::vector<std::string> RestoreArgs(const std::string& litestream, const std::string& url,
                                     std::optional<ltx::TXID> txid, const std::string& out_path,
                                     bool dry_run) {
  std::vector<std::string> argv = {litestream, "restore"};
  if (dry_run) {
    argv.push_back("-dry-run");
    argv.push_back("-json");
  }
  if (txid) {
    argv.push_back("-txid");
    argv.push_back(ltx::FormatTXID(*txid));
  }
  argv.push_back("-o");
  argv.push_back(out_path);
  argv.push_back(url);
  return argv;
}

}  // namespace

std::string SystemSqlite3() {
  return std::filesystem::exists("/usr/bin/sqlite3") ? "/usr/bin/sqlite3" : "sqlite3";
}

Result<std::string> RunOk(const std::vector<std::string>& argv) {
  LTXBUS_ASSIGN_OR_RETURN(CommandResult r, RunCommand(argv, kCommandTimeout));
  if (r.exit_code != 0) {
    return Status::Internal("`{}` exited with {}:\n{}{}", CommandLine(argv), r.exit_code, r.output,
                            r.error_output);
  }
  return r.output;
}

Result<Process> SpawnLogged(const std::vector<std::string>& argv, const std::string& log_path) {
  // sh -c SCRIPT $0 $1...: the shell opens the log, then becomes the command.
  std::vector<std::string> sh = {"sh", "-c", "exec \"$@\" >>\"$0\" 2>&1", log_path};
  sh.insert(sh.end(), argv.begin(), argv.end());
  return Process::Spawn(sh);
}

Result<std::string> FindLitestream() {
  const std::string path = ToolPath("litestream");
  if (!std::filesystem::exists(path)) {
    return Status::NotFound("{} is missing; run scripts/install-deps.sh", path);
  }
  LTXBUS_ASSIGN_OR_RETURN(std::string version, RunOk({path, "version"}));
  if (version.find(kLitestreamVersion) == std::string::npos) {
    return Status::InvalidArgument("{} is {}, these tests need {}", path, version,
                                   kLitestreamVersion);
  }
  return path;
}

Result<std::vector<ArchiveFile>> LitestreamRestorePlan(const std::string& litestream,
                                                       const std::string& replica_dir,
                                                       std::optional<ltx::TXID> txid,
                                                       const std::string& out_path) {
  LTXBUS_ASSIGN_OR_RETURN(std::string out, RunOk(RestoreArgs(litestream, "file://" + replica_dir,
                                                             txid, out_path, true)));
  nlohmann::json plan = nlohmann::json::parse(out, nullptr, /*allow_exceptions=*/false);
  if (plan.is_discarded() || !plan.contains("files") || !plan["files"].is_array()) {
    return Status::Corruption("unexpected dry-run output:\n{}", out);
  }
  std::vector<ArchiveFile> files;
  for (const nlohmann::json& f : plan["files"]) {
    if (!f.contains("level") || !f.contains("name")) {
      return Status::Corruption("unexpected dry-run entry {}", f.dump());
    }
    auto range = ltx::ParseFilename(f["name"].get<std::string>());
    if (!range) return Status::Corruption("unexpected file name in {}", f.dump());
    const int level = f["level"].get<int>();
    files.push_back({level, range->first, range->second,
                     ArchivePath(replica_dir, level, range->first, range->second)});
  }
  return files;
}

Status LitestreamRestore(const std::string& litestream, const std::string& replica_dir,
                         std::optional<ltx::TXID> txid, const std::string& out_path) {
  return RunOk(RestoreArgs(litestream, "file://" + replica_dir, txid, out_path, false)).status();
}

Status LitestreamRestoreUrl(const std::string& litestream, const std::string& url,
                            std::optional<ltx::TXID> txid, const std::string& out_path,
                            const std::vector<std::pair<std::string, std::string>>& env) {
  ProcessOptions o;
  o.env = env;
  o.stdout_mode = Stream::kCapture;
  o.stderr_mode = Stream::kCapture;
  const std::vector<std::string> argv = RestoreArgs(litestream, url, txid, out_path, false);
  LTXBUS_ASSIGN_OR_RETURN(CommandResult r, RunCommand(argv, kCommandTimeout, o));
  if (r.exit_code != 0) {
    return Status::Internal("`{}` exited with {}:\n{}{}", CommandLine(argv), r.exit_code, r.output,
                            r.error_output);
  }
  return Status::OK();
}

Status LtxbusApply(const std::string& db, const std::vector<std::string>& files) {
  if (std::filesystem::exists(db)) return Status::InvalidArgument("{} exists already", db);
  std::vector<std::string> argv = {LtxbusBinary(), "ltx", "apply", "--db", db};
  argv.insert(argv.end(), files.begin(), files.end());
  return RunOk(argv).status();
}

Status LtxbusVerify(const std::vector<std::string>& files) {
  std::vector<std::string> argv = {LtxbusBinary(), "ltx", "verify", "-q"};
  argv.insert(argv.end(), files.begin(), files.end());
  return RunOk(argv).status();
}

Result<std::string> IntegrityCheck(const std::string& db, const std::string& scratch_dir) {
  const std::string copy = scratch_dir + "/integrity-check.db";
  std::error_code ec;
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
    std::filesystem::remove(copy + suffix, ec);
  }
  std::filesystem::copy_file(db, copy, ec);
  if (ec) return Status::IOError("copy {}: {}", db, ec.message());
  LTXBUS_ASSIGN_OR_RETURN(std::string out,
                          RunOk({SystemSqlite3(), copy, "PRAGMA integrity_check;"}));
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

}  // namespace ltxbus::testing
