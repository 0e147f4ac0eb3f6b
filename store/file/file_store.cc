#include "store/file/file_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <random>
#include <thread>

#include "store/request_counter.h"
#include "store/time_format.h"

namespace ltxbus::store::file {
namespace {

constexpr const char* kLockName = ".ltxbus-lock";
constexpr std::string_view kXattrPrefix = "user.ltxbus.";
constexpr std::chrono::seconds kLockTimeout{30};
constexpr size_t kCopyBuffer = 1 << 20;

// Closes a descriptor on scope exit.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd(Fd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  int get() const { return fd_; }
  Status Close(const std::string& what) {
    int fd = fd_;
    fd_ = -1;
    if (fd >= 0 && ::close(fd) != 0) return Status::FromErrno(what, errno);
    return Status::OK();
  }

 private:
  int fd_;
};

// The store-wide lock (see file_store.h); released on destruction.
class StoreLock {
 public:
  explicit StoreLock(Fd fd) : fd_(std::move(fd)) {}
  ~StoreLock() {
    if (fd_.get() >= 0) ::flock(fd_.get(), LOCK_UN);
  }
  StoreLock(StoreLock&&) = default;

 private:
  Fd fd_;
};

std::string EtagOf(const struct stat& st) {
  const auto ctime_ns = static_cast<uint64_t>(st.st_ctim.tv_sec) * 1'000'000'000ULL +
                        static_cast<uint64_t>(st.st_ctim.tv_nsec);
  return fmt::format("{:x}-{:x}-{:x}", static_cast<uint64_t>(st.st_ino), ctime_ns,
                     static_cast<uint64_t>(st.st_size));
}

int64_t MtimeMs(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1'000'000;
}

std::string Parent(const std::string& path) { return path.substr(0, path.rfind('/')); }
std::string Base(const std::string& path) { return path.substr(path.rfind('/') + 1); }

Status SyncDir(const std::string& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return Status::FromErrno("opening directory " + dir, errno);
  if (::fsync(fd.get()) != 0) return Status::FromErrno("syncing directory " + dir, errno);
  return fd.Close("closing directory " + dir);
}

// mkdir -p, fsyncing the parent of every directory it creates.
Status MakeDirs(const std::string& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return Status::OK();
    return Status::IOError("{} exists and is not a directory", dir);
  }
  if (errno != ENOENT) return Status::FromErrno("looking at " + dir, errno);
  const std::string parent = Parent(dir);
  if (!parent.empty() && parent != dir) LTXBUS_RETURN_IF_ERROR(MakeDirs(parent));
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return Status::FromErrno("creating directory " + dir, errno);
  }
  return SyncDir(parent.empty() ? "/" : parent);
}

Status WriteAll(int fd, std::span<const uint8_t> data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::FromErrno("writing " + path, errno);
    data = data.subspan(static_cast<size_t>(n));
  }
  return Status::OK();
}

bool XattrUnsupported(int err) { return err == ENOTSUP || err == EOPNOTSUPP; }

Result<std::map<std::string, std::string>> ReadMetadata(int fd, const std::string& path) {
  std::map<std::string, std::string> out;
  ssize_t len = ::flistxattr(fd, nullptr, 0);
  if (len < 0 && XattrUnsupported(errno)) return out;
  if (len < 0) return Status::FromErrno("listing attributes of " + path, errno);
  std::string names(static_cast<size_t>(len), '\0');
  len = ::flistxattr(fd, names.data(), names.size());
  if (len < 0) return Status::FromErrno("listing attributes of " + path, errno);
  names.resize(static_cast<size_t>(len));
  for (size_t pos = 0; pos < names.size();) {
    std::string name(names.c_str() + pos);
    pos += name.size() + 1;
    if (!name.starts_with(kXattrPrefix)) continue;
    char value[1024];
    ssize_t n = ::fgetxattr(fd, name.c_str(), value, sizeof(value));
    if (n < 0) return Status::FromErrno("reading attribute " + name + " of " + path, errno);
    out[name.substr(kXattrPrefix.size())] = std::string(value, static_cast<size_t>(n));
  }
  return out;
}

Status WriteMetadata(int fd, const std::map<std::string, std::string>& metadata,
                     const std::string& path) {
  for (const auto& [key, value] : metadata) {
    const std::string name = std::string(kXattrPrefix) + key;
    if (::fsetxattr(fd, name.c_str(), value.data(), value.size(), 0) == 0) continue;
    if (XattrUnsupported(errno) && key == kTimestampMetadataKey) continue;  // the mtime has it
    if (XattrUnsupported(errno)) {
      return Status::InvalidArgument(
          "{}: the file system has no user extended attributes, so metadata '{}' cannot be "
          "stored (only {} can, as the mtime)",
          path, key, kTimestampMetadataKey);
    }
    return Status::FromErrno("setting attribute " + name + " on " + path, errno);
  }
  if (auto it = metadata.find(std::string(kTimestampMetadataKey)); it != metadata.end()) {
    LTXBUS_ASSIGN_OR_RETURN(int64_t ms, ParseTimestamp(it->second));
    struct timespec times[2];
    times[0].tv_sec = static_cast<time_t>(ms / 1000);
    times[0].tv_nsec = static_cast<long>(ms % 1000) * 1'000'000;
    times[1] = times[0];
    if (::futimens(fd, times) != 0) return Status::FromErrno("setting the mtime of " + path, errno);
  }
  return Status::OK();
}

class FileStore final : public ObjectStore {
 public:
  FileStore(std::string root, std::string url) : root_(std::move(root)), url_(std::move(url)) {}

  std::string_view kind() const override { return "file"; }
  const std::string& url() const override { return url_; }

  Result<ObjectInfo> Put(const std::string& key, SequentialFile& source,
                         const PutOptions& options) override;
  Result<ObjectInfo> Get(const std::string& key, WritableFile& sink,
                         const GetOptions& options) override;
  Result<ObjectInfo> Stat(const std::string& key) override;
  Result<std::vector<ObjectInfo>> List(const std::string& prefix,
                                       const ListOptions& options) override;
  Status Delete(const std::vector<std::string>& keys) override;
  RequestCounts Requests() const override { return counter_.Snapshot(); }

 private:
  Result<ObjectInfo> Read(const std::string& key, WritableFile& sink, const GetOptions& options);
  std::string PathOf(const std::string& key) const { return root_ + "/" + key; }
  Result<StoreLock> Lock();
  // Moves the finished temporary file to `path` under the lock, honouring
  // the conditions; returns the new file's stat.
  Result<struct stat> Publish(const std::string& tmp, const std::string& path,
                              const std::string& key, const PutOptions& options);
  Status Walk(const std::string& dir, const std::string& rel, const std::string& prefix,
              const std::string& start_after, std::vector<ObjectInfo>& out);

  std::string root_;
  std::string url_;
  RequestCounter counter_;
};

Result<StoreLock> FileStore::Lock() {
  LTXBUS_RETURN_IF_ERROR(MakeDirs(root_));
  const std::string path = root_ + "/" + kLockName;
  Fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (fd.get() < 0) return Status::FromErrno("opening lock file " + path, errno);
  const auto deadline = std::chrono::steady_clock::now() + kLockTimeout;
  auto pause = std::chrono::milliseconds(1);
  while (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EINTR) continue;
    if (errno != EWOULDBLOCK) return Status::FromErrno("locking " + path, errno);
    if (std::chrono::steady_clock::now() >= deadline) {
      return Status::Timeout("{}: another writer held {} for {} s", url_, path,
                             kLockTimeout.count());
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(50));
  }
  return StoreLock(std::move(fd));
}

Result<struct stat> FileStore::Publish(const std::string& tmp, const std::string& path,
                                       const std::string& key, const PutOptions& options) {
  LTXBUS_ASSIGN_OR_RETURN(StoreLock lock, Lock());
  if (options.if_none_match) {
    if (::link(tmp.c_str(), path.c_str()) != 0) {
      if (errno == EEXIST) return Status::Conflict("{}: put {}: the object exists", url_, key);
      return Status::FromErrno("linking " + tmp + " to " + path, errno);
    }
    if (::unlink(tmp.c_str()) != 0) return Status::FromErrno("removing " + tmp, errno);
  } else {
    if (!options.if_match.empty()) {
      struct stat cur {};
      if (::stat(path.c_str(), &cur) != 0) {
        if (errno == ENOENT) {
          return Status::Conflict("{}: put {} if-match {}: the object does not exist", url_, key,
                                  options.if_match);
        }
        return Status::FromErrno("looking at " + path, errno);
      }
      if (EtagOf(cur) != options.if_match) {
        return Status::Conflict("{}: put {} if-match {}: the object's etag is {}", url_, key,
                                options.if_match, EtagOf(cur));
      }
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
      return Status::FromErrno("renaming " + tmp + " to " + path, errno);
    }
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return Status::FromErrno("looking at " + path, errno);
  return st;
}

Result<ObjectInfo> FileStore::Put(const std::string& key, SequentialFile& source,
                                  const PutOptions& options) {
  LTXBUS_RETURN_IF_ERROR(ValidatePutOptions(key, options));
  counter_.Add(RequestCounter::kPut);
  const std::string path = PathOf(key);
  const std::string dir = Parent(path);
  LTXBUS_RETURN_IF_ERROR(MakeDirs(dir));
  const std::string tmp =
      fmt::format("{}/.{}.{:016x}.tmp", dir, Base(path), std::random_device{}() * 0x100000001ULL);
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (fd.get() < 0) return Status::FromErrno("creating " + tmp, errno);
  uint64_t size = 0;
  auto write = [&]() -> Status {
    std::vector<uint8_t> buf(kCopyBuffer);
    for (;;) {
      LTXBUS_ASSIGN_OR_RETURN(size_t n, source.Read(buf));
      if (n == 0) break;
      LTXBUS_RETURN_IF_ERROR(WriteAll(fd.get(), std::span<const uint8_t>(buf).first(n), tmp));
      size += n;
    }
    LTXBUS_RETURN_IF_ERROR(WriteMetadata(fd.get(), options.metadata, tmp));
    if (::fsync(fd.get()) != 0) return Status::FromErrno("syncing " + tmp, errno);
    return fd.Close("closing " + tmp);
  };
  Status s = write();
  Result<struct stat> st = s.ok() ? Publish(tmp, path, key, options) : Result<struct stat>(s);
  if (!st.ok()) {
    ::unlink(tmp.c_str());
    return st.status();
  }
  LTXBUS_RETURN_IF_ERROR(SyncDir(dir));
  ObjectInfo info;
  info.key = key;
  info.size = size;
  info.etag = EtagOf(*st);
  info.last_modified_ms = MtimeMs(*st);
  info.metadata = options.metadata;
  return info;
}

Result<ObjectInfo> FileStore::Get(const std::string& key, WritableFile& sink,
                                  const GetOptions& options) {
  LTXBUS_RETURN_IF_ERROR(ValidateKey(key));
  counter_.Add(RequestCounter::kGet);
  return Read(key, sink, options);
}

Result<ObjectInfo> FileStore::Read(const std::string& key, WritableFile& sink,
                                   const GetOptions& options) {
  const std::string path = PathOf(key);
  // One descriptor for the info and the bytes: a concurrent replace (a
  // rename) does not change what an open file reads, so all of it is one
  // version.
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0 && errno == ENOENT) return Status::NotFound("{}: no object {}", url_, key);
  if (fd.get() < 0) return Status::FromErrno("opening " + path, errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return Status::FromErrno("looking at " + path, errno);
  if (!S_ISREG(st.st_mode)) return Status::NotFound("{}: no object {} (a directory)", url_, key);
  ObjectInfo info;
  info.key = key;
  info.size = static_cast<uint64_t>(st.st_size);
  info.etag = EtagOf(st);
  info.last_modified_ms = MtimeMs(st);
  LTXBUS_ASSIGN_OR_RETURN(info.metadata, ReadMetadata(fd.get(), path));
  if (!options.if_match.empty() && options.if_match != info.etag) {
    return Status::Conflict("{}: get {}: etag is {}, not {}", url_, key, info.etag,
                            options.if_match);
  }
  if (options.offset > info.size) {
    return Status::InvalidArgument("{}: get {}: offset {} is beyond the object's {} bytes", url_,
                                   key, options.offset, info.size);
  }
  uint64_t remaining = info.size - options.offset;
  if (options.length.has_value()) remaining = std::min(remaining, *options.length);
  std::vector<uint8_t> buf(static_cast<size_t>(std::min<uint64_t>(remaining, kCopyBuffer)));
  uint64_t pos = options.offset;
  while (remaining > 0) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(remaining, buf.size()));
    ssize_t n = ::pread(fd.get(), buf.data(), want, static_cast<off_t>(pos));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::FromErrno("reading " + path, errno);
    if (n == 0) return Status::IOError("{}: ended at byte {} of {}", path, pos, info.size);
    LTXBUS_RETURN_IF_ERROR(
        sink.Append(std::span<const uint8_t>(buf).first(static_cast<size_t>(n))));
    pos += static_cast<uint64_t>(n);
    remaining -= static_cast<uint64_t>(n);
  }
  return info;
}

Result<ObjectInfo> FileStore::Stat(const std::string& key) {
  LTXBUS_RETURN_IF_ERROR(ValidateKey(key));
  counter_.Add(RequestCounter::kHead);
  StringSink none;
  GetOptions head;
  head.length = 0;
  return Read(key, none, head);
}

Status FileStore::Walk(const std::string& dir, const std::string& rel, const std::string& prefix,
                       const std::string& start_after, std::vector<ObjectInfo>& out) {
  std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(dir.c_str()), &::closedir);
  if (d == nullptr && (errno == ENOENT || errno == ENOTDIR)) return Status::OK();
  if (d == nullptr) return Status::FromErrno("listing " + dir, errno);
  for (;;) {
    errno = 0;
    struct dirent* e = ::readdir(d.get());
    if (e == nullptr) {
      if (errno != 0) return Status::FromErrno("listing " + dir, errno);
      break;
    }
    const std::string name = e->d_name;
    if (name.empty() || name.front() == '.') continue;  // ., .., temporary and lock files
    const std::string key = rel.empty() ? name : rel + "/" + name;
    // Descend only where keys with the prefix can be.
    const size_t common = std::min(key.size(), prefix.size());
    if (key.compare(0, common, prefix, 0, common) != 0) continue;
    const std::string path = dir + "/" + name;
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
      if (errno == ENOENT) continue;  // deleted meanwhile
      return Status::FromErrno("looking at " + path, errno);
    }
    if (S_ISDIR(st.st_mode)) {
      LTXBUS_RETURN_IF_ERROR(Walk(path, key, prefix, start_after, out));
      continue;
    }
    if (!S_ISREG(st.st_mode) || !key.starts_with(prefix) || key <= start_after) continue;
    ObjectInfo info;
    info.key = key;
    info.size = static_cast<uint64_t>(st.st_size);
    info.etag = EtagOf(st);
    info.last_modified_ms = MtimeMs(st);
    out.push_back(std::move(info));
  }
  return Status::OK();
}

Result<std::vector<ObjectInfo>> FileStore::List(const std::string& prefix,
                                                const ListOptions& options) {
  LTXBUS_RETURN_IF_ERROR(ValidatePrefix(prefix));
  counter_.Add(RequestCounter::kList);
  // Start at the deepest directory the prefix names completely.
  const size_t slash = prefix.rfind('/');
  const std::string rel = slash == std::string::npos ? "" : prefix.substr(0, slash);
  std::vector<ObjectInfo> out;
  LTXBUS_RETURN_IF_ERROR(
      Walk(rel.empty() ? root_ : PathOf(rel), rel, prefix, options.start_after, out));
  std::sort(out.begin(), out.end(),
            [](const ObjectInfo& a, const ObjectInfo& b) { return a.key < b.key; });
  return out;
}

Status FileStore::Delete(const std::vector<std::string>& keys) {
  for (const std::string& k : keys) LTXBUS_RETURN_IF_ERROR(ValidateKey(k));
  if (keys.empty()) return Status::OK();
  counter_.Add(RequestCounter::kDelete, keys.size());
  std::vector<std::string> dirs;
  {
    LTXBUS_ASSIGN_OR_RETURN(StoreLock lock, Lock());
    for (const std::string& k : keys) {
      const std::string path = PathOf(k);
      if (::unlink(path.c_str()) != 0) {
        if (errno == ENOENT || errno == ENOTDIR) continue;
        return Status::FromErrno("deleting " + path, errno);
      }
      dirs.push_back(Parent(path));
    }
  }
  std::sort(dirs.begin(), dirs.end());
  dirs.erase(std::unique(dirs.begin(), dirs.end()), dirs.end());
  for (const std::string& d : dirs) LTXBUS_RETURN_IF_ERROR(SyncDir(d));
  return Status::OK();
}

}  // namespace

Result<std::unique_ptr<ObjectStore>> OpenFileStore(const StoreUrl& url) {
  LTXBUS_RETURN_IF_ERROR(url.CheckOptions({}));
  std::string root = url.path;
  if (root.empty()) return Status::InvalidArgument("file store URL names no directory");
  if (root.front() != '/') {
    char cwd[4096];
    if (::getcwd(cwd, sizeof(cwd)) == nullptr) return Status::FromErrno("getcwd", errno);
    root = std::string(cwd) + "/" + root;
  }
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  struct stat st {};
  if (::stat(root.c_str(), &st) == 0 && !S_ISDIR(st.st_mode)) {
    return Status::InvalidArgument("{}: {} is not a directory", url.redacted, root);
  }
  return std::unique_ptr<ObjectStore>(std::make_unique<FileStore>(root, "file://" + root));
}

}  // namespace ltxbus::store::file
