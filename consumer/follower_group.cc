#include "consumer/follower_group.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

namespace ltxbus::consumer {

using namespace std::chrono_literals;

struct FollowerGroup::Entry {
  std::string name;
  bus::Endpoint endpoint;
  std::unique_ptr<bus::Bus> bus;
  std::unique_ptr<Follower> follower;
  // The monitor thread's own connection, for the head (opened on first use).
  std::unique_ptr<bus::Bus> monitor_bus;
  std::chrono::steady_clock::time_point monitor_warned{};
  std::mutex mu;         // guards `report`, shared with Reports()
  ReplicaReport report;  // stats copied after every Poll, head from the monitor
};

namespace {

// Errors after which writing the replica again could harm it.
bool IsFatal(const Status& s) {
  switch (s.code()) {
    case Status::Code::kConflict:
    case Status::Code::kInvalidArgument:
    case Status::Code::kCorruption:
    case Status::Code::kInternal:
      return true;
    default:
      return false;
  }
}

}  // namespace

Result<std::unique_ptr<FollowerGroup>> FollowerGroup::Start(
    Env* env, const std::vector<config::FollowConfig>& replicas,
    const FollowerGroupOptions& options) {
  if (replicas.empty()) return Status::InvalidArgument("no replicas to follow");
  std::unique_ptr<FollowerGroup> g(new FollowerGroup());
  g->options_ = options;
  for (const config::FollowConfig& c : replicas) {
    auto r = std::make_unique<Entry>();
    r->name = fmt::format("{} -> {}", c.name, c.replica);
    LTXBUS_ASSIGN_OR_RETURN(bus::Endpoint endpoint, bus::Endpoint::Parse(c.bus));
    auto b = bus::Bus::Connect(endpoint);
    if (!b.ok()) return b.status().WithContext(r->name);
    r->bus = std::move(*b);
    FollowerOptions o;
    o.database = c.name;
    o.bus_url = endpoint.url;
    o.replica.path = c.replica;
    o.replica.checkpoint_frames = c.min_checkpoint_page_count;
    o.replica.truncate_wal_bytes = c.wal_truncate_bytes;
    o.max_batch = c.max_batch;
    o.archive_url = c.archive;
    bus::Bus* raw = r->bus.get();
    SubscribeFn subscribe = [raw, name = c.name](const bus::StartPosition& start) {
      return raw->Subscribe(name, start);
    };
    auto f = Follower::Open(env, o, std::move(subscribe), raw);
    if (!f.ok()) return f.status();
    r->follower = std::move(*f);
    r->endpoint = endpoint;
    r->report.database = c.name;
    r->report.replica = c.replica;
    r->report.bus_url = endpoint.url;
    r->report.stats = r->follower->stats();
    spdlog::info("{}: following {} on {} into {}{}", c.name, c.name, endpoint.url, c.replica,
                 c.archive.empty() ? "" : fmt::format(" (bootstrapping from {})", c.archive));
    g->replicas_.push_back(std::move(r));
  }
  for (size_t i = 0; i < g->replicas_.size(); i++) {
    g->threads_.emplace_back([raw = g.get(), i] { raw->Run(i); });
  }
  g->monitor_ = std::thread([raw = g.get()] { raw->MonitorHeads(); });
  return g;
}

FollowerGroup::~FollowerGroup() {
  Stop();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  if (monitor_.joinable()) monitor_.join();
}

void FollowerGroup::Stop() {
  std::lock_guard lock(mu_);
  stopping_ = true;
  cv_.notify_all();
}

Status FollowerGroup::Wait() {
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  {
    // Every follower is done (stopped or failed): so is the monitor.
    std::lock_guard lock(mu_);
    stopping_ = true;
    cv_.notify_all();
  }
  if (monitor_.joinable()) monitor_.join();
  std::lock_guard lock(mu_);
  return first_error_;
}

std::vector<ReplicaReport> FollowerGroup::Reports() const {
  std::vector<ReplicaReport> out;
  out.reserve(replicas_.size());
  for (const auto& r : replicas_) {
    std::lock_guard lock(r->mu);
    out.push_back(r->report);
  }
  return out;
}

void FollowerGroup::MonitorHeads() {
  for (;;) {
    for (auto& r : replicas_) {
      {
        std::lock_guard lock(mu_);
        if (stopping_) return;
      }
      Status s;
      if (!r->monitor_bus) {
        auto b = bus::Bus::Connect(r->endpoint);
        if (b.ok()) r->monitor_bus = std::move(*b);
        s = b.status();
      }
      if (s.ok()) {
        auto head = ReadStreamHead(*r->monitor_bus, r->report.database, WallClockMs());
        if (head.ok()) {
          std::lock_guard lock(r->mu);
          r->report.stats.head = *head;
          continue;
        }
        s = head.status();
        r->monitor_bus.reset();  // reconnect next time
      }
      const auto now = std::chrono::steady_clock::now();
      if (now - r->monitor_warned > 30s) {
        r->monitor_warned = now;
        spdlog::warn("{}: cannot read the head of the stream for lag: {}", r->name, s.message());
      }
    }
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, options_.head_interval, [&] { return stopping_; });
    if (stopping_) return;
  }
}

void FollowerGroup::Run(size_t index) {
  Entry& r = *replicas_[index];
  auto backoff = 100ms;
  auto last_warning = std::chrono::steady_clock::time_point{};
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) break;
    }
    auto n = r.follower->Poll(200ms);
    {
      std::lock_guard lock(r.mu);
      const StreamHead head = r.report.stats.head;
      r.report.stats = r.follower->stats();
      r.report.stats.head = head;
      if (!n.ok() && IsFatal(n.status())) {
        r.report.stopped = true;
        r.report.error = n.status().message();
      }
    }
    if (n.ok()) {
      backoff = 100ms;
      continue;
    }
    if (IsFatal(n.status())) {
      spdlog::error("{}: stopped following: {}", r.name, n.status().message());
      std::lock_guard lock(mu_);
      if (first_error_.ok()) first_error_ = n.status().WithContext(r.name);
      if (++failures_ == replicas_.size()) failed_ = true;
      return;
    }
    if (std::chrono::steady_clock::now() - last_warning > 10s) {
      spdlog::warn("{}: {} (retrying; the replica stays readable at TXID {})", r.name,
                   n.status().message(), ltx::FormatTXID(r.follower->stats().txid));
      last_warning = std::chrono::steady_clock::now();
    }
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, backoff, [&] { return stopping_; });
    backoff = std::min<std::chrono::milliseconds>(backoff * 2, 5s);
  }
  // Stopped: leave a position file that names exactly the replica's state.
  Status s = r.follower->SettlePosition();
  if (!s.ok()) spdlog::warn("{}: storing the position: {}", r.name, s.message());
}

}  // namespace ltxbus::consumer
