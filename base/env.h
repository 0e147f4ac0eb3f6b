// The environment seam: every file system and clock access in ltxbus goes
// through an Env, so tests can substitute one that fails on purpose (see
// tests/support/fault_env.h). Env::Default() is the POSIX implementation; it
// holds no mutable state.
//
// Files are not thread-safe; an Env is.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"

namespace ltxbus {

// Reads a byte stream front to back.
class SequentialFile {
 public:
  virtual ~SequentialFile() = default;
  // Reads up to dst.size() bytes; returns how many were read, 0 only at the end.
  virtual Result<size_t> Read(std::span<uint8_t> dst) = 0;
};

// Reads at arbitrary offsets.
class RandomAccessFile {
 public:
  virtual ~RandomAccessFile() = default;
  // Reads exactly dst.size() bytes at `offset`; a short read is an error.
  virtual Status ReadAt(uint64_t offset, std::span<uint8_t> dst) const = 0;
  virtual Result<uint64_t> Size() const = 0;
};

// Writes a byte stream. Close() flushes; destruction without Close() discards
// errors, so callers that care call Close().
class WritableFile {
 public:
  virtual ~WritableFile() = default;
  virtual Status Append(std::span<const uint8_t> data) = 0;
  // Flushes buffers and makes the contents durable (fdatasync).
  virtual Status Sync() = 0;
  virtual Status Close() = 0;
};

// A database-style file: positional reads and writes, truncation.
class DataFile : public RandomAccessFile {
 public:
  virtual Status WriteAt(uint64_t offset, std::span<const uint8_t> data) = 0;
  virtual Status Truncate(uint64_t size) = 0;
  // Makes the contents and size durable (fdatasync).
  virtual Status Sync() = 0;
};

class Env {
 public:
  virtual ~Env() = default;
  // The process-wide POSIX environment (stateless).
  static Env* Default();

  virtual Result<std::unique_ptr<SequentialFile>> NewSequentialFile(const std::string& path) = 0;
  virtual Result<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(
      const std::string& path) = 0;
  // Creates or truncates `path`.
  virtual Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) = 0;
  // Opens `path` for positional reads and writes, creating it if `create`.
  virtual Result<std::unique_ptr<DataFile>> OpenDataFile(const std::string& path, bool create) = 0;

  virtual bool FileExists(const std::string& path) = 0;
  virtual Result<uint64_t> GetFileSize(const std::string& path) = 0;
  // Names (not paths) of the entries in `dir`, excluding "." and "..".
  virtual Result<std::vector<std::string>> ListDir(const std::string& dir) = 0;
  // Creates `dir` and missing parents; an existing directory is fine.
  virtual Status CreateDirs(const std::string& dir) = 0;
  virtual Status RemoveFile(const std::string& path) = 0;
  // Atomic replace of `to`, as rename(2).
  virtual Status RenameFile(const std::string& from, const std::string& to) = 0;
  // fsyncs a directory so renames and creations in it are durable.
  virtual Status SyncDir(const std::string& dir) = 0;
  virtual Status SetModTime(const std::string& path, int64_t unix_ms) = 0;

  virtual int64_t NowUnixMillis() = 0;
};

// Writes `data` to `path` atomically: a temporary file in the same directory,
// fsynced, renamed over `path`, and the directory fsynced.
Status WriteFileAtomic(Env* env, const std::string& path, std::span<const uint8_t> data);

// Writes `path` atomically: `fill` writes the contents into a temporary file
// beside it, which is then fsynced and renamed over `path` (and the directory
// fsynced). If `fill` or any step fails, the temporary file is removed and
// `path` is untouched.
Status WriteFileAtomicWith(Env* env, const std::string& path,
                           const std::function<Status(WritableFile*)>& fill);

// Reads dst.size() bytes at `offset`. False (not an error) if the file ends
// before offset + dst.size(): files that others append to and truncate (a
// live WAL, the -shm) are legitimately short at times; other failures are
// errors.
Result<bool> ReadAtIfPresent(const RandomAccessFile& file, uint64_t offset, std::span<uint8_t> dst);

// Reads a whole file; for small files (configs, manifests, tests).
Result<std::string> ReadFileToString(Env* env, const std::string& path);

// A SequentialFile over bytes owned elsewhere.
class SpanSource final : public SequentialFile {
 public:
  explicit SpanSource(std::span<const uint8_t> data) : data_(data) {}
  Result<size_t> Read(std::span<uint8_t> dst) override;

 private:
  std::span<const uint8_t> data_;
};

// A WritableFile that appends to a std::string it owns.
class StringSink final : public WritableFile {
 public:
  Status Append(std::span<const uint8_t> data) override;
  Status Sync() override { return Status::OK(); }
  Status Close() override { return Status::OK(); }
  const std::string& contents() const { return contents_; }
  std::string& contents() { return contents_; }

 private:
  std::string contents_;
};

// Byte views of strings, for the file interfaces.
inline std::span<const uint8_t> AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

}  // namespace ltxbus
