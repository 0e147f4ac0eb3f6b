// An Env that breaks on purpose: it forwards to a real Env and fails writes,
// syncs or renames once a budget runs out, so tests can prove that a failure
// at any point leaves files in a safe state.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/env.h"

namespace ltxbus::testing {

class FaultEnv final : public Env {
 public:
  explicit FaultEnv(Env* base) : base_(base) {}

  // Writes fail once this many more bytes have been written (-1 = never).
  void FailWritesAfter(int64_t bytes) { write_budget_ = bytes; }
  void FailSyncs(bool fail) { fail_syncs_ = fail; }
  void FailRenames(bool fail) { fail_renames_ = fail; }

  Result<std::unique_ptr<SequentialFile>> NewSequentialFile(const std::string& p) override {
    return base_->NewSequentialFile(p);
  }
  Result<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(const std::string& p) override {
    return base_->NewRandomAccessFile(p);
  }
  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& p) override;
  Result<std::unique_ptr<DataFile>> OpenDataFile(const std::string& p, bool create) override;
  bool FileExists(const std::string& p) override { return base_->FileExists(p); }
  Result<uint64_t> GetFileSize(const std::string& p) override { return base_->GetFileSize(p); }
  Result<std::vector<std::string>> ListDir(const std::string& d) override {
    return base_->ListDir(d);
  }
  Status CreateDirs(const std::string& d) override { return base_->CreateDirs(d); }
  Status RemoveFile(const std::string& p) override { return base_->RemoveFile(p); }
  Status RenameFile(const std::string& from, const std::string& to) override;
  Status SyncDir(const std::string& d) override;
  Status SetModTime(const std::string& p, int64_t ms) override { return base_->SetModTime(p, ms); }
  int64_t NowUnixMillis() override { return base_->NowUnixMillis(); }

  // Charges `n` bytes; false when the write must fail.
  bool ChargeWrite(size_t n);
  bool syncs_fail() const { return fail_syncs_; }

 private:
  Env* base_;
  std::atomic<int64_t> write_budget_{-1};
  std::atomic<bool> fail_syncs_{false};
  std::atomic<bool> fail_renames_{false};
};

}  // namespace ltxbus::testing
