#include "consumer/follower_group.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

namespace ltxbus::consumer {

using namespace std::chrono_literals;

struct FollowerGroup::Entry {
  std::string name;
  std::unique_ptr<bus::Bus> bus;
  std::unique_ptr<Follower> follower;
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
    Env* env, const std::vector<config::FollowConfig>& replicas) {
  if (replicas.empty()) return Status::InvalidArgument("no replicas to follow");
  std::unique_ptr<FollowerGroup> g(new FollowerGroup());
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
    bus::Bus* raw = r->bus.get();
    SubscribeFn subscribe = [raw, name = c.name](const bus::StartPosition& start) {
      return raw->Subscribe(name, start);
    };
    auto f = Follower::Open(env, o, std::move(subscribe));
    if (!f.ok()) return f.status();
    r->follower = std::move(*f);
    spdlog::info("{}: following {} on {} into {}", c.name, c.name, endpoint.url, c.replica);
    g->replicas_.push_back(std::move(r));
  }
  for (size_t i = 0; i < g->replicas_.size(); i++) {
    g->threads_.emplace_back([raw = g.get(), i] { raw->Run(i); });
  }
  return g;
}

FollowerGroup::~FollowerGroup() {
  Stop();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
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
  std::lock_guard lock(mu_);
  return first_error_;
}

void FollowerGroup::Run(size_t index) {
  Entry& r = *replicas_[index];
  auto backoff = 100ms;
  auto last_warning = std::chrono::steady_clock::time_point{};
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
    }
    auto n = r.follower->Poll(200ms);
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
}

}  // namespace ltxbus::consumer
