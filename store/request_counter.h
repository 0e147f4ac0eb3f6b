// Thread-safe request counting behind ObjectStore::Requests(). Not a public
// header.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

#include "store/object_store.h"

namespace ltxbus::store {

class RequestCounter {
 public:
  enum Kind { kPut, kGet, kHead, kList, kDelete };
  void Add(Kind kind, uint64_t n = 1) { c_[kind].fetch_add(n, std::memory_order_relaxed); }
  RequestCounts Snapshot() const {
    RequestCounts r;
    r.put = c_[kPut].load(std::memory_order_relaxed);
    r.get = c_[kGet].load(std::memory_order_relaxed);
    r.head = c_[kHead].load(std::memory_order_relaxed);
    r.list = c_[kList].load(std::memory_order_relaxed);
    r.delete_ = c_[kDelete].load(std::memory_order_relaxed);
    return r;
  }

 private:
  std::array<std::atomic<uint64_t>, 5> c_{};
};

}  // namespace ltxbus::store
