// Pieces of bench/producer_bench and bench/follower_bench: real servers
// started with scripts/servers/*.sh, a bus follower that timestamps every
// frame as it becomes visible to a consumer, /proc readings (CPU time, peak
// RSS, load), run directories and logged processes, and the marked sections
// of bench/RESULTS.md.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/process.h"
#include "base/status.h"
#include "bus/bus.h"
#include "ltx/ltx.h"

namespace ltxbus::bench {

// nats-server or the Kafka broker in a temporary directory, stopped (and the
// directory removed) on destruction; a watchdog stops it if we die first.
class Server {
 public:
  // `name` is "nats" or "kafka"; `source_dir` the repository root.
  static Result<std::unique_ptr<Server>> Start(const std::string& source_dir,
                                               const std::string& name);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  std::string env(const std::string& key) const;
  pid_t pid() const { return pid_; }

 private:
  Server(std::string script, std::string dir) : script_(std::move(script)), dir_(std::move(dir)) {}
  std::string script_, dir_;
  pid_t pid_ = -1;
  std::map<std::string, std::string> env_;
};

// One frame as a consumer saw it.
struct SeenFrame {
  ltx::TXID min_txid = 0, max_txid = 0;
  int64_t visible_ns = 0;   // CLOCK_REALTIME when the frame was complete at the consumer
  int64_t bus_time_ms = 0;  // when the bus stored its last chunk
  uint64_t size = 0;
};

// Follows one database's stream from the beginning in a thread of its own.
class Follower {
 public:
  static Result<std::unique_ptr<Follower>> Start(const std::string& url,
                                                 const std::string& database);
  ~Follower();
  Follower(const Follower&) = delete;
  Follower& operator=(const Follower&) = delete;

  ltx::TXID last_txid() const { return last_txid_.load(); }
  // Waits until a frame up to `txid` has been seen; false on timeout or error.
  bool WaitFor(ltx::TXID txid, std::chrono::milliseconds timeout) const;
  // Every frame seen so far, in order.
  std::vector<SeenFrame> frames() const;
  // The first error the follower stopped on, if any.
  Status error() const;

 private:
  Follower() = default;
  void Run();

  std::unique_ptr<bus::Bus> bus_;
  std::unique_ptr<bus::Subscriber> sub_;
  std::atomic<ltx::TXID> last_txid_{0};
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::vector<SeenFrame> frames_;
  Status error_;
  std::thread thread_;
};

// A running process's CPU time (user + system), from /proc/PID/stat.
std::chrono::duration<double> CpuTime(pid_t pid);
// "VmHWM" (peak RSS) or "VmRSS" from /proc/PID/status, in bytes; -1 if unknown.
int64_t ProcStatusBytes(pid_t pid, const std::string& field);
int64_t WallClockNs();

// The p-th percentile (0..100) of `v` (sorted in place); 0 if empty.
double Percentile(std::vector<double>& v, double p);
double Median(std::vector<double> v);

// A directory for one run, removed afterwards.
class RunDir {
 public:
  RunDir();
  ~RunDir();
  RunDir(const RunDir&) = delete;
  RunDir& operator=(const RunDir&) = delete;
  std::string Join(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// `argv`, its stdout and stderr appended to `log` (the pid stays the
// program's own: the shell execs it).
Result<Process> SpawnLogged(std::vector<std::string> argv, const std::string& log);
// "key=value" from bench/producer_bench_app's output line; 0 if absent.
double Field(const std::string& out, const std::string& key);
// The 1, 5 and 15 minute load averages.
std::string LoadAverage();
// "YYYY-MM-DD HH:MM UTC".
std::string UtcNow();
// Replaces the text from `begin` to `end` (markers included) in the file at
// `path` with `section` (which carries both markers), or appends `section`
// after `heading` when the markers are not there yet.
Status ReplaceMarkedSection(const std::string& path, std::string_view begin, std::string_view end,
                            const std::string& section, const std::string& heading = "");

// The programs the benchmarks drive: ltxbus and producer_bench_app beside
// the running benchmark, and Litestream where scripts/install-deps.sh puts it
// (${LTXBUS_TOOLS:-~/.cache/ltxbus}/bin).
struct BenchPrograms {
  std::string ltxbus, app, litestream;
};
BenchPrograms FindPrograms();
// Runs bench/producer_bench_app with `args`: its output, or why it failed.
Result<std::string> RunBenchApp(const std::string& app, const std::vector<std::string>& args,
                                std::chrono::seconds timeout);

// Writes back every dirty page first (untimed), so a timed write does not
// also pay for what earlier steps left in the page cache.
Status SyncAll();
// Seconds for dd to write `bytes` from /dev/zero to `path` and fdatasync it
// (the file is removed after): the disk's durable sequential write speed.
Result<double> TimeDd(const std::string& path, int64_t bytes);

}  // namespace ltxbus::bench
