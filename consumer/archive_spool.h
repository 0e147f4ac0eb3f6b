// Local scratch space for archive objects: a spool (an anonymous temporary
// file, written once and read back from the start) and parallel downloads of
// archive files into spools. The archiver stages the files it uploads and the
// inputs of its compactions here, and restore its downloads, so memory never
// depends on a file's size.
#pragma once

#include <cstdio>
#include <memory>
#include <span>
#include <vector>

#include "base/env.h"
#include "base/status.h"
#include "consumer/archive_layout.h"
#include "store/object_store.h"

namespace ltxbus::consumer {

class Spool final : public WritableFile, public SequentialFile {
 public:
  // An anonymous file (removed by the kernel when closed).
  static Result<std::unique_ptr<Spool>> Create();
  ~Spool() override;

  Status Append(std::span<const uint8_t> data) override;
  Status Sync() override { return Status::OK(); }  // scratch: never needs to survive a crash
  Status Close() override { return Status::OK(); }
  // Reads from the position Rewind() set.
  Result<size_t> Read(std::span<uint8_t> dst) override;
  // Back to the start, for reading what was written (or for writing anew
  // after Truncate()).
  Status Rewind();
  Status Truncate();
  uint64_t size() const { return size_; }

 private:
  explicit Spool(std::FILE* f) : file_(f) {}
  std::FILE* file_;
  uint64_t size_ = 0;
};

// Downloads `files` into one spool each, `parallelism` at a time; calls
// `on_done(bytes)` (from any thread, serialised) after each one. Fails with
// the first error, naming the key.
Result<std::vector<std::unique_ptr<Spool>>> DownloadFiles(
    store::ObjectStore& store, const std::vector<ArchiveFile>& files, int parallelism,
    const std::function<void(uint64_t bytes)>& on_done = {});

// The spools as the compactor's inputs (rewound).
Result<std::vector<SequentialFile*>> AsInputs(const std::vector<std::unique_ptr<Spool>>& spools);

}  // namespace ltxbus::consumer
