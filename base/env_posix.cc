// The POSIX Env. Buffered sequential reads and writes; every syscall error
// becomes an I/O Status naming the path.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>

#include "base/env.h"

namespace ltxbus {
namespace {

constexpr size_t kBufferSize = 256 * 1024;

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

class PosixSequentialFile final : public SequentialFile {
 public:
  PosixSequentialFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  Result<size_t> Read(std::span<uint8_t> dst) override {
    size_t done = 0;
    while (done < dst.size()) {
      ssize_t n = ::read(fd_.get(), dst.data() + done, dst.size() - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        return Status::FromErrno("read " + path_, errno);
      }
      if (n == 0) break;
      done += static_cast<size_t>(n);
    }
    return done;
  }

 private:
  std::string path_;
  Fd fd_;
};

Status PreadFully(int fd, const std::string& path, uint64_t offset, std::span<uint8_t> dst) {
  size_t done = 0;
  while (done < dst.size()) {
    ssize_t n =
        ::pread(fd, dst.data() + done, dst.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno("pread " + path, errno);
    }
    if (n == 0) {
      return Status::IOError("{}: short read at offset {} ({} of {} bytes)", path, offset, done,
                             dst.size());
    }
    done += static_cast<size_t>(n);
  }
  return Status::OK();
}

Result<uint64_t> FdSize(int fd, const std::string& path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return Status::FromErrno("fstat " + path, errno);
  return static_cast<uint64_t>(st.st_size);
}

class PosixRandomAccessFile final : public RandomAccessFile {
 public:
  PosixRandomAccessFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  Status ReadAt(uint64_t offset, std::span<uint8_t> dst) const override {
    return PreadFully(fd_.get(), path_, offset, dst);
  }
  Result<uint64_t> Size() const override { return FdSize(fd_.get(), path_); }

 private:
  std::string path_;
  Fd fd_;
};

class PosixDataFile final : public DataFile {
 public:
  PosixDataFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  Status ReadAt(uint64_t offset, std::span<uint8_t> dst) const override {
    return PreadFully(fd_.get(), path_, offset, dst);
  }
  Result<uint64_t> Size() const override { return FdSize(fd_.get(), path_); }
  Status WriteAt(uint64_t offset, std::span<const uint8_t> data) override {
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n = ::pwrite(fd_.get(), data.data() + done, data.size() - done,
                           static_cast<off_t>(offset + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        return Status::FromErrno("pwrite " + path_, errno);
      }
      done += static_cast<size_t>(n);
    }
    return Status::OK();
  }
  Status Truncate(uint64_t size) override {
    if (::ftruncate(fd_.get(), static_cast<off_t>(size)) != 0) {
      return Status::FromErrno("ftruncate " + path_, errno);
    }
    return Status::OK();
  }
  Status Sync() override {
    if (::fdatasync(fd_.get()) != 0) return Status::FromErrno("fdatasync " + path_, errno);
    return Status::OK();
  }

 private:
  std::string path_;
  Fd fd_;
};

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {
    buf_.reserve(kBufferSize);
  }
  ~PosixWritableFile() override { (void)Flush(); }

  Status Append(std::span<const uint8_t> data) override {
    if (buf_.size() + data.size() > kBufferSize) {
      LTXBUS_RETURN_IF_ERROR(Flush());
      if (data.size() >= kBufferSize) return WriteRaw(data);
    }
    buf_.insert(buf_.end(), data.begin(), data.end());
    return Status::OK();
  }
  Status Sync() override {
    LTXBUS_RETURN_IF_ERROR(Flush());
    if (::fdatasync(fd_.get()) != 0) return Status::FromErrno("fdatasync " + path_, errno);
    return Status::OK();
  }
  Status Close() override {
    Status s = Flush();
    int fd = fd_.release();
    if (fd >= 0 && ::close(fd) != 0 && s.ok()) s = Status::FromErrno("close " + path_, errno);
    return s;
  }

 private:
  Status Flush() {
    if (buf_.empty()) return Status::OK();
    Status s = WriteRaw(buf_);
    buf_.clear();
    return s;
  }
  Status WriteRaw(std::span<const uint8_t> data) {
    if (fd_.get() < 0) return Status::IOError("{}: write after close", path_);
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n = ::write(fd_.get(), data.data() + done, data.size() - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        return Status::FromErrno("write " + path_, errno);
      }
      done += static_cast<size_t>(n);
    }
    return Status::OK();
  }

  std::string path_;
  Fd fd_;
  std::vector<uint8_t> buf_;
};

class PosixEnv final : public Env {
 public:
  Result<std::unique_ptr<SequentialFile>> NewSequentialFile(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Status::FromErrno("open " + path, errno);
    return std::unique_ptr<SequentialFile>(std::make_unique<PosixSequentialFile>(path, fd));
  }
  Result<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Status::FromErrno("open " + path, errno);
    return std::unique_ptr<RandomAccessFile>(std::make_unique<PosixRandomAccessFile>(path, fd));
  }
  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return Status::FromErrno("create " + path, errno);
    return std::unique_ptr<WritableFile>(std::make_unique<PosixWritableFile>(path, fd));
  }
  Result<std::unique_ptr<DataFile>> OpenDataFile(const std::string& path, bool create) override {
    int flags = O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0);
    int fd = ::open(path.c_str(), flags, 0644);
    if (fd < 0) return Status::FromErrno("open " + path, errno);
    return std::unique_ptr<DataFile>(std::make_unique<PosixDataFile>(path, fd));
  }
  bool FileExists(const std::string& path) override { return ::access(path.c_str(), F_OK) == 0; }
  Result<uint64_t> GetFileSize(const std::string& path) override {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return Status::FromErrno("stat " + path, errno);
    return static_cast<uint64_t>(st.st_size);
  }
  Result<std::vector<std::string>> ListDir(const std::string& dir) override {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return Status::FromErrno("opendir " + dir, errno);
    std::vector<std::string> names;
    while (struct dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name != "." && name != "..") names.push_back(std::move(name));
    }
    ::closedir(d);
    return names;
  }
  Status CreateDirs(const std::string& dir) override {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return Status::IOError("mkdir {}: {}", dir, ec.message());
    return Status::OK();
  }
  Status RemoveFile(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return Status::FromErrno("unlink " + path, errno);
    return Status::OK();
  }
  Status RenameFile(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) {
      return Status::FromErrno("rename " + from + " to " + to, errno);
    }
    return Status::OK();
  }
  Status SyncDir(const std::string& dir) override {
    Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (fd.get() < 0) return Status::FromErrno("open dir " + dir, errno);
    if (::fsync(fd.get()) != 0) return Status::FromErrno("fsync dir " + dir, errno);
    return Status::OK();
  }
  Status SetModTime(const std::string& path, int64_t unix_ms) override {
    struct timespec times[2];
    times[0].tv_sec = unix_ms / 1000;
    times[0].tv_nsec = (unix_ms % 1000) * 1000000;
    times[1] = times[0];
    if (::utimensat(AT_FDCWD, path.c_str(), times, 0) != 0) {
      return Status::FromErrno("utimensat " + path, errno);
    }
    return Status::OK();
  }
  int64_t NowUnixMillis() override {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
  }
};

}  // namespace

Env* Env::Default() {
  static PosixEnv env;  // stateless; safe to share
  return &env;
}

Status WriteFileAtomicWith(Env* env, const std::string& path,
                           const std::function<Status(WritableFile*)>& fill) {
  const std::string tmp = path + ".tmp";
  Status s;
  {
    LTXBUS_ASSIGN_OR_RETURN(auto file, env->NewWritableFile(tmp));
    s = fill(file.get());
    if (s.ok()) s = file->Sync();
    if (s.ok()) s = file->Close();
  }
  if (s.ok()) s = env->RenameFile(tmp, path);
  if (!s.ok()) {
    (void)env->RemoveFile(tmp);
    return s;
  }
  std::string dir = std::filesystem::path(path).parent_path().string();
  return env->SyncDir(dir.empty() ? "." : dir);
}

Status WriteFileAtomic(Env* env, const std::string& path, std::span<const uint8_t> data) {
  return WriteFileAtomicWith(env, path, [&](WritableFile* f) { return f->Append(data); });
}

Result<bool> ReadAtIfPresent(const RandomAccessFile& file, uint64_t offset,
                             std::span<uint8_t> dst) {
  Status s = file.ReadAt(offset, dst);
  if (s.ok()) return true;
  Result<uint64_t> size = file.Size();
  if (size.ok() && *size < offset + dst.size()) return false;
  return s;
}

Result<std::string> ReadFileToString(Env* env, const std::string& path) {
  LTXBUS_ASSIGN_OR_RETURN(auto file, env->NewSequentialFile(path));
  std::string out;
  uint8_t buf[64 * 1024];
  for (;;) {
    LTXBUS_ASSIGN_OR_RETURN(size_t n, file->Read(buf));
    if (n == 0) break;
    out.append(reinterpret_cast<const char*>(buf), n);
  }
  return out;
}

Result<size_t> SpanSource::Read(std::span<uint8_t> dst) {
  size_t n = std::min(dst.size(), data_.size());
  std::copy_n(data_.begin(), n, dst.begin());
  data_ = data_.subspan(n);
  return n;
}

Status StringSink::Append(std::span<const uint8_t> data) {
  contents_.append(reinterpret_cast<const char*>(data.data()), data.size());
  return Status::OK();
}

}  // namespace ltxbus
