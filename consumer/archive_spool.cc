#include "consumer/archive_spool.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <mutex>
#include <thread>

namespace ltxbus::consumer {

Result<std::unique_ptr<Spool>> Spool::Create() {
  std::FILE* f = std::tmpfile();
  if (f == nullptr) return Status::FromErrno("creating a temporary spool file", errno);
  return std::unique_ptr<Spool>(new Spool(f));
}

Spool::~Spool() { std::fclose(file_); }

Status Spool::Append(std::span<const uint8_t> data) {
  if (!data.empty() && std::fwrite(data.data(), 1, data.size(), file_) != data.size()) {
    return Status::FromErrno("writing a temporary spool file", errno);
  }
  size_ += data.size();
  return Status::OK();
}

Result<size_t> Spool::Read(std::span<uint8_t> dst) {
  const size_t n = std::fread(dst.data(), 1, dst.size(), file_);
  if (n == 0 && std::ferror(file_))
    return Status::FromErrno("reading a temporary spool file", errno);
  return n;
}

Status Spool::Rewind() {
  if (std::fflush(file_) != 0 || std::fseek(file_, 0, SEEK_SET) != 0) {
    return Status::FromErrno("rewinding a temporary spool file", errno);
  }
  return Status::OK();
}

Status Spool::Truncate() {
  LTXBUS_RETURN_IF_ERROR(Rewind());
  if (::ftruncate(::fileno(file_), 0) != 0) {
    return Status::FromErrno("truncating a temporary spool file", errno);
  }
  size_ = 0;
  return Status::OK();
}

Result<std::vector<std::unique_ptr<Spool>>> DownloadFiles(
    store::ObjectStore& store, const std::vector<ArchiveFile>& files, int parallelism,
    const std::function<void(uint64_t bytes)>& on_done) {
  std::vector<std::unique_ptr<Spool>> spools(files.size());
  std::atomic<size_t> next{0};
  std::mutex mu;
  Status first_error;
  auto worker = [&] {
    for (;;) {
      const size_t i = next.fetch_add(1);
      if (i >= files.size()) return;
      {
        std::lock_guard lock(mu);
        if (!first_error.ok()) return;
      }
      Status s = [&]() -> Status {
        LTXBUS_ASSIGN_OR_RETURN(spools[i], Spool::Create());
        LTXBUS_ASSIGN_OR_RETURN(store::ObjectInfo info, store.Get(files[i].key, *spools[i]));
        (void)info;
        return spools[i]->Rewind();
      }();
      std::lock_guard lock(mu);
      if (!s.ok()) {
        if (first_error.ok()) first_error = s.WithContext(files[i].Describe());
        return;
      }
      if (on_done) on_done(spools[i]->size());
    }
  };
  const size_t n = std::min<size_t>(files.size(), static_cast<size_t>(std::max(parallelism, 1)));
  std::vector<std::thread> threads;
  for (size_t t = 1; t < n; t++) threads.emplace_back(worker);
  worker();
  for (auto& t : threads) t.join();
  if (!first_error.ok()) return first_error;
  return spools;
}

Result<std::vector<SequentialFile*>> AsInputs(const std::vector<std::unique_ptr<Spool>>& spools) {
  std::vector<SequentialFile*> out;
  for (const auto& s : spools) {
    LTXBUS_RETURN_IF_ERROR(s->Rewind());
    out.push_back(s.get());
  }
  return out;
}

}  // namespace ltxbus::consumer
