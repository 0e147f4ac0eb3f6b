#include "bench/producer_bench_util.h"

#include <ctime>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "base/env.h"
#include "base/process.h"
#include "bus/assembler.h"

namespace ltxbus::bench {

using namespace std::chrono_literals;

Result<std::unique_ptr<Server>> Server::Start(const std::string& source_dir,
                                              const std::string& name) {
  // LTXBUS_BENCH_SERVER_TMP puts the servers' data elsewhere (e.g. /dev/shm),
  // so their writeback stops sharing the disk with the app: a diagnostic.
  const char* server_tmp = std::getenv("LTXBUS_BENCH_SERVER_TMP");
  std::string dir = ((server_tmp != nullptr ? std::filesystem::path(server_tmp)
                                            : std::filesystem::temp_directory_path()) /
                     fmt::format("ltxbus-bench-{}-XXXXXX", name))
                        .string();
  if (mkdtemp(dir.data()) == nullptr) return Status::FromErrno("mkdtemp " + dir, errno);
  std::unique_ptr<Server> s(
      new Server(fmt::format("{}/scripts/servers/{}.sh", source_dir, name), dir));
  std::vector<std::string> argv = {s->script_, "start", dir, "--owner", std::to_string(getpid()),
                                   "--cleanup"};
  LTXBUS_ASSIGN_OR_RETURN(CommandResult r, RunCommand(argv, 240s));
  if (r.exit_code != 0) {
    return Status::Unavailable("`{}` failed:\n{}", CommandLine(argv), r.error_output);
  }
  LTXBUS_ASSIGN_OR_RETURN(std::string pid, ReadFileToString(Env::Default(), dir + "/pid"));
  s->pid_ = static_cast<pid_t>(std::atoi(pid.c_str()));
  LTXBUS_ASSIGN_OR_RETURN(std::string env, ReadFileToString(Env::Default(), dir + "/env"));
  std::istringstream lines(env);
  for (std::string line; std::getline(lines, line);) {
    if (size_t eq = line.find('='); eq != std::string::npos) {
      s->env_[line.substr(0, eq)] = line.substr(eq + 1);
    }
  }
  return s;
}

Server::~Server() {
  (void)RunCommand({script_, "stop", dir_}, 60s);
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string Server::env(const std::string& key) const {
  auto it = env_.find(key);
  return it == env_.end() ? std::string() : it->second;
}

Result<std::unique_ptr<Follower>> Follower::Start(const std::string& url,
                                                  const std::string& database) {
  std::unique_ptr<Follower> f(new Follower());
  LTXBUS_ASSIGN_OR_RETURN(bus::Endpoint endpoint, bus::Endpoint::Parse(url));
  LTXBUS_ASSIGN_OR_RETURN(f->bus_, bus::Bus::Connect(endpoint));
  LTXBUS_ASSIGN_OR_RETURN(f->sub_, f->bus_->Subscribe(database, {}));
  f->thread_ = std::thread([raw = f.get()] { raw->Run(); });
  return f;
}

Follower::~Follower() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void Follower::Run() {
  bus::FrameAssembler assembler;
  while (!stop_) {
    auto chunk = sub_->Next(100ms);
    Status st = chunk.status();
    if (chunk.ok() && chunk->has_value()) {
      auto frame = assembler.Add(std::move(**chunk));
      st = frame.status();
      if (frame.ok() && frame->has_value()) {
        const bus::Frame& f = **frame;
        SeenFrame seen{f.id().min_txid, f.id().max_txid, WallClockNs(), f.bus_time_ms(), f.size()};
        std::lock_guard lock(mu_);
        frames_.push_back(seen);
        last_txid_ = seen.max_txid;
      }
    }
    if (!st.ok()) {
      std::lock_guard lock(mu_);
      error_ = st;
      return;
    }
  }
}

bool Follower::WaitFor(ltx::TXID txid, std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (last_txid_.load() < txid) {
    if (std::chrono::steady_clock::now() > deadline || !error().ok()) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

std::vector<SeenFrame> Follower::frames() const {
  std::lock_guard lock(mu_);
  return frames_;
}

Status Follower::error() const {
  std::lock_guard lock(mu_);
  return error_;
}

std::chrono::duration<double> CpuTime(pid_t pid) {
  auto stat = ReadFileToString(Env::Default(), fmt::format("/proc/{}/stat", pid));
  if (!stat.ok()) return std::chrono::duration<double>(0);
  // Fields after the command name, which ends with the last ')': state is
  // field 3, utime 14 and stime 15.
  std::istringstream in(stat->substr(stat->rfind(')') + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && in >> field; i++) {
    if (i >= 14) ticks += std::atof(field.c_str());
  }
  return std::chrono::duration<double>(ticks / static_cast<double>(sysconf(_SC_CLK_TCK)));
}

int64_t ProcStatusBytes(pid_t pid, const std::string& field) {
  auto status = ReadFileToString(Env::Default(), fmt::format("/proc/{}/status", pid));
  if (!status.ok()) return -1;
  std::istringstream lines(*status);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(field + ":", 0) == 0) {
      return std::atoll(line.c_str() + field.size() + 1) * 1024;  // "VmHWM:  1234 kB"
    }
  }
  return -1;
}

int64_t WallClockNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double Percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  // Nearest rank.
  const double rank = std::ceil(p / 100.0 * static_cast<double>(v.size()));
  const size_t i = rank < 1 ? 0 : static_cast<size_t>(rank) - 1;
  return v[std::min(i, v.size() - 1)];
}

double Median(std::vector<double> v) { return Percentile(v, 50); }

RunDir::RunDir() {
  path_ = (std::filesystem::temp_directory_path() / "ltxbus-bench-run-XXXXXX").string();
  if (mkdtemp(path_.data()) == nullptr) path_.clear();
}

RunDir::~RunDir() {
  std::error_code ec;
  if (!path_.empty()) std::filesystem::remove_all(path_, ec);
}

Result<Process> SpawnLogged(std::vector<std::string> argv, const std::string& log) {
  argv.insert(argv.begin(), {"sh", "-c", "exec \"$@\" >>\"$0\" 2>&1", log});
  return Process::Spawn(argv);
}

double Field(const std::string& out, const std::string& key) {
  size_t at = out.find(key + "=");
  return at == std::string::npos ? 0 : std::atof(out.c_str() + at + key.size() + 1);
}

std::string LoadAverage() {
  auto text = ReadFileToString(Env::Default(), "/proc/loadavg");
  if (!text.ok()) return "?";
  std::istringstream in(*text);
  std::string a, b, c;
  in >> a >> b >> c;
  return fmt::format("{} {} {}", a, b, c);
}

std::string UtcNow() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", &tm);
  return buf;
}

Status ReplaceMarkedSection(const std::string& path, std::string_view begin, std::string_view end,
                            const std::string& section, const std::string& heading) {
  std::string text;
  if (Env::Default()->FileExists(path)) {
    LTXBUS_ASSIGN_OR_RETURN(text, ReadFileToString(Env::Default(), path));
  }
  const size_t b = text.find(begin);
  const size_t e = text.find(end);
  if (b != std::string::npos && e != std::string::npos && e > b) {
    size_t after = e + end.size();
    if (after < text.size() && text[after] == '\n') after++;
    text = text.substr(0, b) + section + text.substr(after);
  } else {
    if (!text.empty() && text.back() != '\n') text += '\n';
    text += "\n" + heading + section;
  }
  return WriteFileAtomic(Env::Default(), path, AsBytes(text));
}

BenchPrograms FindPrograms() {
  const std::string self = std::filesystem::canonical("/proc/self/exe").parent_path().string();
  const char* home = std::getenv("HOME");
  const char* tools = std::getenv("LTXBUS_TOOLS");
  const std::string tools_dir = tools != nullptr && *tools != '\0'
                                    ? std::string(tools)
                                    : std::string(home ? home : "") + "/.cache/ltxbus";
  return {self + "/ltxbus", self + "/producer_bench_app", tools_dir + "/bin/litestream"};
}

Result<std::string> RunBenchApp(const std::string& app, const std::vector<std::string>& args,
                                std::chrono::seconds timeout) {
  std::vector<std::string> argv = {app};
  argv.insert(argv.end(), args.begin(), args.end());
  LTXBUS_ASSIGN_OR_RETURN(CommandResult r, RunCommand(argv, timeout));
  if (r.exit_code != 0) {
    return Status::Internal("`{}` exited with {}: {}", CommandLine(argv), r.exit_code,
                            r.error_output);
  }
  return r.output;
}

Status SyncAll() {
  LTXBUS_ASSIGN_OR_RETURN(CommandResult r, RunCommand({"sync"}, 600s));
  return r.exit_code == 0 ? Status::OK() : Status::Internal("sync failed: {}", r.error_output);
}

Result<double> TimeDd(const std::string& path, int64_t bytes) {
  LTXBUS_RETURN_IF_ERROR(SyncAll());
  const auto start = std::chrono::steady_clock::now();
  LTXBUS_ASSIGN_OR_RETURN(
      CommandResult r,
      RunCommand({"dd", "if=/dev/zero", "of=" + path, "bs=1M",
                  fmt::format("count={}", (bytes + (1 << 20) - 1) >> 20), "conv=fdatasync"},
                 600s));
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::error_code ec;
  std::filesystem::remove(path, ec);
  if (r.exit_code != 0) return Status::Internal("dd failed: {}", r.error_output);
  return s;
}

}  // namespace ltxbus::bench
