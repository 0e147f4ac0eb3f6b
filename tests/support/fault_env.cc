#include "tests/support/fault_env.h"

namespace ltxbus::testing {
namespace {

class FaultWritableFile final : public WritableFile {
 public:
  FaultWritableFile(FaultEnv* env, std::unique_ptr<WritableFile> base)
      : env_(env), base_(std::move(base)) {}
  Status Append(std::span<const uint8_t> data) override {
    if (!env_->ChargeWrite(data.size())) return Status::IOError("injected write failure");
    return base_->Append(data);
  }
  Status Sync() override {
    if (env_->syncs_fail()) return Status::IOError("injected sync failure");
    return base_->Sync();
  }
  Status Close() override { return base_->Close(); }

 private:
  FaultEnv* env_;
  std::unique_ptr<WritableFile> base_;
};

class FaultDataFile final : public DataFile {
 public:
  FaultDataFile(FaultEnv* env, std::unique_ptr<DataFile> base)
      : env_(env), base_(std::move(base)) {}
  Status ReadAt(uint64_t off, std::span<uint8_t> dst) const override {
    return base_->ReadAt(off, dst);
  }
  Result<uint64_t> Size() const override { return base_->Size(); }
  Status WriteAt(uint64_t off, std::span<const uint8_t> data) override {
    if (!env_->ChargeWrite(data.size())) return Status::IOError("injected write failure");
    return base_->WriteAt(off, data);
  }
  Status Truncate(uint64_t size) override { return base_->Truncate(size); }
  Status Sync() override {
    if (env_->syncs_fail()) return Status::IOError("injected sync failure");
    return base_->Sync();
  }

 private:
  FaultEnv* env_;
  std::unique_ptr<DataFile> base_;
};

}  // namespace

bool FaultEnv::ChargeWrite(size_t n) {
  int64_t budget = write_budget_.load();
  if (budget < 0) return true;
  if (static_cast<int64_t>(n) > budget) {
    write_budget_ = 0;
    return false;
  }
  write_budget_ = budget - static_cast<int64_t>(n);
  return true;
}

Result<std::unique_ptr<WritableFile>> FaultEnv::NewWritableFile(const std::string& p) {
  LTXBUS_ASSIGN_OR_RETURN(auto f, base_->NewWritableFile(p));
  return std::unique_ptr<WritableFile>(std::make_unique<FaultWritableFile>(this, std::move(f)));
}

Result<std::unique_ptr<DataFile>> FaultEnv::OpenDataFile(const std::string& p, bool create) {
  LTXBUS_ASSIGN_OR_RETURN(auto f, base_->OpenDataFile(p, create));
  return std::unique_ptr<DataFile>(std::make_unique<FaultDataFile>(this, std::move(f)));
}

Status FaultEnv::RenameFile(const std::string& from, const std::string& to) {
  if (fail_renames_) return Status::IOError("injected rename failure");
  return base_->RenameFile(from, to);
}

Status FaultEnv::SyncDir(const std::string& d) {
  if (fail_syncs_) return Status::IOError("injected sync failure");
  return base_->SyncDir(d);
}

}  // namespace ltxbus::testing
