#include "tests/support/testbed.h"

#include "base/env.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <optional>
#include <random>
#include <sstream>
#include <thread>

#include "base/process.h"

#ifndef LTXBUS_DEFAULT_SOURCE_DIR
#define LTXBUS_DEFAULT_SOURCE_DIR ""
#endif

namespace ltxbus::testing {
namespace {

// Kafka alone may take 90 s to become ready (scripts/servers/kafka.sh), plus
// a JVM for formatting its storage and a retry on a port conflict.
constexpr auto kStartTimeout = std::chrono::seconds(240);
// kafka.sh waits 15 s for SIGTERM, then 10 s after SIGKILL.
constexpr auto kStopTimeout = std::chrono::seconds(60);

std::string Script(ServerKind kind) {
  return fmt::format("{}/scripts/servers/{}.sh", SourceDir(), ServerName(kind));
}

std::string Tail(const std::string& s, size_t n) {
  return s.size() <= n ? s : "..." + s.substr(s.size() - n);
}

Result<std::string> MakeTempDir(ServerKind kind) {
  std::string tmpl =
      (std::filesystem::temp_directory_path() / fmt::format("ltxbus-{}-XXXXXX", ServerName(kind)))
          .string();
  if (mkdtemp(tmpl.data()) == nullptr) return Status::FromErrno("mkdtemp " + tmpl, errno);
  return tmpl;
}

}  // namespace

std::string_view ServerName(ServerKind kind) {
  switch (kind) {
    case ServerKind::kNats:
      return "nats";
    case ServerKind::kKafka:
      return "kafka";
    case ServerKind::kMoto:
      return "moto";
    case ServerKind::kVersitygw:
      return "versitygw";
  }
  return "unknown";
}

std::string SourceDir() {
  const char* dir = getenv("LTXBUS_SOURCE_DIR");
  return dir != nullptr && *dir != '\0' ? dir : LTXBUS_DEFAULT_SOURCE_DIR;
}

std::string LtxbusBinary() {
  const char* b = getenv("LTXBUS_BINARY");
  return b != nullptr && *b != '\0' ? b : LTXBUS_DEFAULT_BINARY;
}

std::vector<std::string> WorkloadArgv(const std::string& db, std::vector<std::string> args) {
  std::vector<std::string> argv = {"python3", SourceDir() + "/tests/apps/workload.py", db};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

Status RunWorkload(const std::string& db, std::vector<std::string> args,
                   std::chrono::seconds timeout) {
  LTXBUS_ASSIGN_OR_RETURN(CommandResult r, RunCommand(WorkloadArgv(db, std::move(args)), timeout));
  if (r.exit_code != 0) {
    return Status::Internal("workload.py exited with {}: {}", r.exit_code, r.error_output);
  }
  return Status::OK();
}

Result<std::unique_ptr<TestServer>> TestServer::Start(ServerKind kind) {
  LTXBUS_ASSIGN_OR_RETURN(std::string dir, MakeTempDir(kind));
  // Owned from here on, so the directory goes away on every failure path.
  auto server = std::make_unique<TestServer>(Key{}, kind, dir, /*owned=*/true);
  // --cleanup: if this binary dies, the watchdog removes the directory too.
  std::vector<std::string> argv = {Script(kind), "start", dir, "--owner", std::to_string(getpid()),
                                   "--cleanup"};
  auto run = RunCommand(argv, kStartTimeout);
  if (!run.ok()) return run.status().WithContext(fmt::format("starting {}", ServerName(kind)));
  if (run->exit_code != 0) {
    // The script names scripts/install-deps.sh when a binary is missing and
    // prints the server's log tail when the server itself failed.
    return Status::Unavailable("`{}` failed with exit code {}:\n{}", CommandLine(argv),
                               run->exit_code, Tail(run->error_output + run->output, 6000));
  }
  LTXBUS_RETURN_IF_ERROR(server->LoadState());
  return server;
}

Result<std::unique_ptr<TestServer>> TestServer::Attach(ServerKind kind, const std::string& dir) {
  auto server = std::make_unique<TestServer>(Key{}, kind, dir, /*owned=*/false);
  LTXBUS_RETURN_IF_ERROR(server->LoadState());
  if (!ProcessAlive(server->pid_)) {
    return Status::Unavailable("{} in {} is not running (pid {})", ServerName(kind), dir,
                               server->pid_);
  }
  return server;
}

Status TestServer::LoadState() {
  LTXBUS_ASSIGN_OR_RETURN(std::string pid_text, ReadFileToString(Env::Default(), dir_ + "/pid"));
  pid_ = static_cast<pid_t>(std::atoi(pid_text.c_str()));
  LTXBUS_ASSIGN_OR_RETURN(std::string env_text, ReadFileToString(Env::Default(), dir_ + "/env"));
  env_.clear();
  std::istringstream lines(env_text);
  for (std::string line; std::getline(lines, line);) {
    size_t eq = line.find('=');
    if (eq != std::string::npos) env_[line.substr(0, eq)] = line.substr(eq + 1);
  }
  if (pid_ <= 0 || env_.empty()) {
    return Status::Corruption("{} left no usable pid or env file in {}", ServerName(kind_), dir_);
  }
  return Status::OK();
}

Status TestServer::RunScript(const std::vector<std::string>& args,
                             std::chrono::seconds timeout) const {
  std::vector<std::string> argv = {Script(kind_)};
  argv.insert(argv.end(), args.begin(), args.end());
  auto run = RunCommand(argv, timeout);
  if (!run.ok()) return run.status();
  if (run->exit_code != 0) {
    return Status::Internal("`{}` failed with exit code {}: {}", CommandLine(argv), run->exit_code,
                            Tail(run->error_output, 4000));
  }
  return Status::OK();
}

Status TestServer::Stop() {
  if (!owned_ || stopped_) return Status::OK();
  LTXBUS_RETURN_IF_ERROR(RunScript({"stop", dir_}, kStopTimeout));
  stopped_ = true;
  return Status::OK();
}

Status TestServer::Halt(HaltMode mode) {
  if (stopped_) return Status::InvalidArgument("{} in {} was stopped", ServerName(kind_), dir_);
  if (halted_) return Status::OK();
  std::vector<std::string> args = {"down", dir_};
  if (mode == HaltMode::kCrash) args.push_back("--kill");
  LTXBUS_RETURN_IF_ERROR(RunScript(args, kStopTimeout));
  halted_ = true;
  return Status::OK();
}

Status TestServer::Resume() {
  if (stopped_) return Status::InvalidArgument("{} in {} was stopped", ServerName(kind_), dir_);
  if (!halted_) return Status::OK();
  LTXBUS_RETURN_IF_ERROR(RunScript({"up", dir_}, kStartTimeout));
  halted_ = false;
  return LoadState();  // a new pid; the env is the same
}

Status TestServer::Restart(HaltMode mode) {
  LTXBUS_RETURN_IF_ERROR(Halt(mode));
  return Resume();
}

TestServer::~TestServer() {
  if (!owned_) return;
  Status s = Stop();
  if (!s.ok()) ADD_FAILURE() << "stopping " << ServerName(kind_) << ": " << s.ToString();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string TestServer::env(std::string_view key) const {
  auto it = env_.find(key);
  return it == env_.end() ? std::string() : it->second;
}

void ServerSet::Start(std::initializer_list<ServerKind> kinds) {
  StopAll();
  const char* shared = getenv("LTXBUS_TESTBED_DIR");
  std::vector<std::optional<Result<std::unique_ptr<TestServer>>>> started(kinds.size());
  {
    // In parallel: the suite waits for the slowest server, not the sum.
    std::vector<std::jthread> threads;
    size_t i = 0;
    for (ServerKind kind : kinds) {
      threads.emplace_back([&started, i, kind, shared] {
        std::string dir = shared != nullptr && *shared != '\0'
                              ? fmt::format("{}/{}", shared, ServerName(kind))
                              : std::string();
        started[i] = dir.empty() ? TestServer::Start(kind) : TestServer::Attach(kind, dir);
      });
      ++i;
    }
  }
  for (auto& s : started) {
    if (s->ok()) {
      servers_.push_back(std::move(*s).value());
    } else if (error_.empty()) {
      error_ = "test servers did not start: " + s->status().ToString();
    }
  }
}

void ServerSet::StopAll() {
  servers_.clear();  // each destructor stops its server
  error_.clear();
}

TestServer* ServerSet::Find(ServerKind kind) const {
  for (const auto& s : servers_) {
    if (s->kind() == kind) return s.get();
  }
  return nullptr;
}

std::string UniqueName(std::string_view prefix) {
  std::random_device random;
  uint64_t bits = (uint64_t{random()} << 32) | random();
  return fmt::format("{}-{:016x}", prefix, bits);
}

bool PortAcceptsConnections(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

bool ProcessAlive(pid_t pid) {
  auto stat = ReadFileToString(Env::Default(), fmt::format("/proc/{}/stat", pid));
  if (!stat.ok()) return false;
  // The fields follow the command name, which may itself contain ") ".
  size_t paren = stat->rfind(')');
  if (paren == std::string::npos || paren + 2 >= stat->size()) return false;
  std::istringstream fields(stat->substr(paren + 2));
  std::string state, field;
  fields >> state;
  if (state != "Z") return true;
  // A zombie main thread whose other threads still run (a JVM shutting down)
  // is alive: field 20 is the thread count.
  for (int i = 4; i <= 20 && fields >> field; i++) {
  }
  return std::atoi(field.c_str()) > 1;
}

int PortOf(std::string_view address) {
  size_t scheme = address.find("://");
  if (scheme != std::string_view::npos) address.remove_prefix(scheme + 3);
  address = address.substr(0, address.find('/'));
  size_t colon = address.rfind(':');
  if (colon == std::string_view::npos) return -1;
  int port = 0;
  for (char c : address.substr(colon + 1)) {
    if (c < '0' || c > '9' || port > 65535) return -1;
    port = port * 10 + (c - '0');
  }
  return colon + 1 < address.size() && port <= 65535 ? port : -1;
}

}  // namespace ltxbus::testing
