#include "producer/replicator.h"

#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>

#include "producer/wal_watcher.h"

namespace ltxbus::producer {

using namespace std::chrono_literals;

struct Replicator::Database {
  config::DatabaseConfig config;
  bus::Endpoint endpoint;
  std::unique_ptr<bus::Bus> bus;
  std::unique_ptr<Capture> capture;
  std::string producer_id;
  std::unique_ptr<WalWatcher> watcher;
  // The Capture's counters restart when it is replaced (fenced, reopened):
  // the report holds `totals` (the Captures before) plus the current one's.
  CaptureStats totals;
  const Capture* counted = nullptr;  // the Capture whose counters the last report included
  CaptureStats counted_stats;
  mutable std::mutex report_mu;
  DatabaseReport report;  // guarded by report_mu
};

std::string ProducerIdentity(Env* env) {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "unknown");
  return fmt::format("{}/{}/{}", host, ::getpid(), env->NowUnixMillis());
}

namespace {

// How long after a -wal write that showed no commit the producer keeps
// looking for one, and how often at most.
constexpr std::chrono::milliseconds kSettleFor{1000};
constexpr std::chrono::milliseconds kSettleMaxWait{10};

// Makes the stop eventfd readable, which ends every thread's wait for good.
void WakeAll(int stop_fd) {
  const uint64_t one = 1;
  if (stop_fd >= 0 && ::write(stop_fd, &one, sizeof one) < 0) {
    spdlog::warn("waking the database threads: {}", std::strerror(errno));
  }
}

Result<std::unique_ptr<bus::Publisher>> NewPublisher(bus::Bus* bus, const config::DatabaseConfig& c,
                                                     const std::string& producer_id) {
  bus::PublisherOptions po;
  po.producer = producer_id;
  po.chunk_size = c.chunk_size;
  return bus->NewPublisher(c.name, po);
}

Result<std::unique_ptr<Capture>> OpenCapture(Env* env, bus::Bus* bus,
                                             const config::DatabaseConfig& c,
                                             const std::string& producer_id) {
  LTXBUS_ASSIGN_OR_RETURN(auto publisher, NewPublisher(bus, c, producer_id));
  CaptureOptions o;
  o.db_path = c.path;
  o.name = c.name;
  o.producer_id = producer_id;
  o.busy_timeout = c.busy_timeout;
  o.min_checkpoint_page_count = c.min_checkpoint_page_count;
  o.checkpoint_interval = c.checkpoint_interval;
  o.wal_warn_bytes = c.wal_warn_bytes;
  LTXBUS_ASSIGN_OR_RETURN(o.encoding, ltx::ParsePageEncoding(c.page_encoding));
  return Capture::Open(env, o, std::move(publisher));
}

}  // namespace

Result<std::unique_ptr<Replicator>> Replicator::Start(Env* env, const config::Config& config) {
  std::unique_ptr<Replicator> r(new Replicator());
  r->env_ = env;
  r->config_ = config;
  r->stop_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (r->stop_fd_ < 0) return Status::FromErrno("eventfd", errno);
  const std::string producer_id = ProducerIdentity(env);
  for (const auto& c : config.dbs) {
    auto db = std::make_unique<Database>();
    db->config = c;
    db->producer_id = producer_id;
    LTXBUS_ASSIGN_OR_RETURN(db->endpoint, bus::Endpoint::Parse(c.bus));
    auto bus = bus::Bus::Connect(db->endpoint);
    if (!bus.ok()) return bus.status().WithContext(c.name);
    db->bus = std::move(*bus);
    auto capture = OpenCapture(env, db->bus.get(), c, producer_id);
    if (!capture.ok()) return capture.status().WithContext(c.name);
    db->capture = std::move(*capture);
    db->watcher = std::make_unique<WalWatcher>(c.path, r->stop_fd_);
    db->report.database = c.name;
    db->report.path = c.path;
    db->report.bus_url = db->endpoint.url;
    spdlog::info("{}: replicating {} to {}", c.name, c.path, db->endpoint.url);
    r->dbs_.push_back(std::move(db));
  }
  for (size_t i = 0; i < r->dbs_.size(); i++) {
    r->UpdateReport(i, Status::OK());
    r->threads_.emplace_back([raw = r.get(), i] { raw->Run(i); });
  }
  return r;
}

Replicator::~Replicator() {
  Stop();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  if (stop_fd_ >= 0) ::close(stop_fd_);
}

void Replicator::Stop() {
  std::lock_guard lock(mu_);
  stopping_ = true;
  WakeAll(stop_fd_);
}

Status Replicator::Wait() {
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  std::lock_guard lock(mu_);
  return first_error_;
}

std::vector<DatabaseReport> Replicator::Reports() const {
  std::vector<DatabaseReport> out;
  for (const auto& db : dbs_) {
    std::lock_guard lock(db->report_mu);
    out.push_back(db->report);
  }
  return out;
}

namespace {

// `later`'s stats after `earlier`'s, as one Capture's: counters add up, the
// newest publish wins.
CaptureStats Continue(CaptureStats earlier, const CaptureStats& later) {
  earlier.frames += later.frames;
  earlier.snapshots += later.snapshots;
  earlier.checkpoints += later.checkpoints;
  earlier.barrier_checkpoints += later.barrier_checkpoints;
  earlier.barrier_publishes += later.barrier_publishes;
  earlier.barrier_releases += later.barrier_releases;
  earlier.app_lock_held_us += later.app_lock_held_us;
  if (later.txid != 0) {
    earlier.txid = later.txid;
    earlier.last_publish_ms = later.last_publish_ms;
  }
  earlier.wal_frames = later.wal_frames;
  return earlier;
}

}  // namespace

// Called by the database's own thread (and by Start before it runs).
void Replicator::UpdateReport(size_t index, const Status& problem) {
  Database& db = *dbs_[index];
  const Capture* now = db.capture.get();
  if (now != db.counted) {
    // The counted Capture is gone: keep what it had published.
    db.totals = Continue(db.totals, db.counted_stats);
    db.counted = now;
    db.counted_stats = {};
  }
  if (now != nullptr) db.counted_stats = now->stats();
  std::lock_guard lock(db.report_mu);
  DatabaseReport& r = db.report;
  const uint32_t wal_frames = r.stats.wal_frames;
  r.stats = Continue(db.totals, db.counted_stats);
  if (now == nullptr) r.stats.wal_frames = wal_frames;  // not looked at meanwhile
  r.behind = now != nullptr && now->behind();
  r.publish_started_ms = 0;
  r.publishing = problem.ok() && now != nullptr && !now->broken();
  r.error = problem.ok() ? std::string() : problem.message();
}

void Replicator::Run(size_t index) {
  Database& db = *dbs_[index];
  const std::string& name = db.config.name;
  auto backoff = 100ms;
  auto last_error_log = std::chrono::steady_clock::time_point{};
  // The app writes a commit's frames to the -wal (the watcher's event) and
  // only then, after its fsync if synchronous=FULL, makes the commit visible
  // in the wal-index, which no event reports: a Poll woken by the write can
  // run in between and find nothing. So after such a wake it looks again
  // soon (1, 2, 4, 8, then every 10 ms) until kSettleFor after the last
  // write, instead of at the next write or the monitor interval.
  auto wake = WalWatcher::Wake::kTimedOut;
  auto settle_until = std::chrono::steady_clock::time_point{};
  int settle_step = 0;
  auto fail = [&](const Status& s) {
    spdlog::error("{}: {}", name, s.message());
    UpdateReport(index, s);
    std::lock_guard lock(mu_);
    if (first_error_.ok()) first_error_ = s;
    failed_ = true;
    stopping_ = true;
    WakeAll(stop_fd_);
  };
  for (;;) {
    bool stop;
    {
      std::lock_guard lock(mu_);
      stop = stopping_;
    }
    std::chrono::milliseconds wait = db.config.monitor_interval;
    Status problem;  // why nothing can be published now, for the report
    if (!db.capture || db.capture->broken()) {
      // A broken Capture is reopened in place: it keeps its pin, so the
      // app's checkpoints meanwhile cannot break continuity.
      Status st;
      if (db.capture) {
        auto publisher = NewPublisher(db.bus.get(), db.config, db.producer_id);
        st = publisher.ok() ? db.capture->Reopen(std::move(*publisher)) : publisher.status();
        if (st.code() == Status::Code::kNotFound) db.capture.reset();
      } else {
        auto capture = OpenCapture(env_, db.bus.get(), db.config, db.producer_id);
        if (capture.ok()) db.capture = std::move(*capture);
        st = capture.status();
      }
      if (st.ok()) {
        backoff = 100ms;
      } else if (st.code() == Status::Code::kInvalidArgument) {
        fail(st);
        return;
      } else {
        spdlog::warn("{}: cannot open: {} (retrying in {} ms)", name, st.message(),
                     backoff.count());
        problem = st;
        wait = backoff;
        backoff = std::min<std::chrono::milliseconds>(backoff * 2, 5s);
      }
    }
    if (db.capture && !db.capture->broken()) {
      {
        std::lock_guard lock(db.report_mu);
        db.report.publish_started_ms = env_->NowUnixMillis();
      }
      auto n = db.capture->Poll();
      if (n.ok()) {
        backoff = 100ms;
        auto ck = db.capture->MaybeCheckpoint(false);
        if (!ck.ok()) spdlog::warn("{}: checkpoint: {}", name, ck.status().message());
        const auto now = std::chrono::steady_clock::now();
        if (*n > 0) {
          settle_until = {};
        } else if (wake == WalWatcher::Wake::kWalChanged) {
          settle_until = now + kSettleFor;
          settle_step = 0;
        }
        if (now < settle_until) {
          wait =
              std::min(wait, std::min(kSettleMaxWait, std::chrono::milliseconds(1 << settle_step)));
          settle_step = std::min(settle_step + 1, 4);
        }
        if (db.capture->behind()) wait = 0ms;
      } else if (n.status().code() == Status::Code::kConflict) {
        if (config_.on_fenced == config::Config::OnFenced::kExit) {
          fail(n.status().WithContext("fenced by another producer"));
          return;
        }
        spdlog::warn("{}: fenced by another producer; waiting to take over: {}", name,
                     n.status().message());
        problem = n.status().WithContext("fenced by another producer");
        db.capture.reset();
        wait = 5s;
      } else if (n.status().code() == Status::Code::kNotFound) {
        spdlog::warn("{}: {}; reopening", name, n.status().message());
        problem = n.status();
        db.capture.reset();
      } else if (db.capture->broken()) {
        // The bus holds an unknown part of the failed batch; Reopen learns
        // where it ends (not a fence: that was Conflict above).
        spdlog::warn("{}: {}", name, n.status().message());
        problem = n.status();
        wait = backoff;
        backoff = std::min<std::chrono::milliseconds>(backoff * 2, 5s);
      } else {
        if (std::chrono::steady_clock::now() - last_error_log > 10s) {
          spdlog::warn("{}: publishing failed, the WAL keeps everything until the bus is back: {}",
                       name, n.status().message());
          last_error_log = std::chrono::steady_clock::now();
        }
        problem = n.status();
        wait = backoff;
        backoff = std::min<std::chrono::milliseconds>(backoff * 2, 5s);
      }
    }
    UpdateReport(index, problem);
    if (stop) {
      // Publish what is committed, then leave (the caller's stop is bounded
      // by the bus timeouts inside Poll, and a backlog drains in budgets).
      while (db.capture && db.capture->behind() && db.capture->Poll().ok()) {
      }
      return;
    }
    // A write to the -wal (or Stop) ends the wait early.
    wake = wait.count() > 0 ? db.watcher->Wait(wait) : WalWatcher::Wake::kTimedOut;
  }
}

}  // namespace ltxbus::producer
