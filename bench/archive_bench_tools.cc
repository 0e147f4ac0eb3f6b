#include <unistd.h>

#include <filesystem>
#include <thread>

#include "base/env.h"
#include "base/process.h"
#include "bench/archive_bench.h"
#include "consumer/archive_layout.h"
#include "consumer/archive_manifest.h"
#include "store/s3/s3_store.h"

namespace ltxbus::bench {

using namespace std::chrono_literals;

int Tools::s3_port() const {
  const std::string e = s3->env("S3_ENDPOINT");
  return std::atoi(e.c_str() + e.rfind(':') + 1);
}

EnvVars Tools::S3Env() const {
  // An AWS_CA_BUNDLE in the environment makes Litestream's AWS SDK refuse its
  // own HTTP client (see tests/integration/archive_test.cc); this is plain HTTP.
  return {{"AWS_ACCESS_KEY_ID", s3->env("S3_ACCESS_KEY")},
          {"AWS_SECRET_ACCESS_KEY", s3->env("S3_SECRET_KEY")},
          {"AWS_REGION", s3->env("S3_REGION")},
          {"AWS_CA_BUNDLE", ""}};
}

std::string Tools::Endpoint(int port) const { return fmt::format("http://127.0.0.1:{}", port); }

std::string Tools::LtxbusS3Url(const std::string& bucket, int port) const {
  return fmt::format("s3://{}/db?endpoint={}&region={}", bucket, Endpoint(port),
                     s3->env("S3_REGION"));
}

std::string Tools::LitestreamS3Url(const std::string& bucket, int port) const {
  return LtxbusS3Url(bucket, port) + "&forcePathStyle=true";
}

std::string Tools::LitestreamS3Yaml(const std::string& db, const std::string& bucket,
                                    int port) const {
  return fmt::format(
      "dbs:\n  - path: {}\n    replica:\n      type: s3\n      bucket: {}\n      path: db\n"
      "      endpoint: {}\n      region: {}\n      force-path-style: true\n",
      db, bucket, Endpoint(port), s3->env("S3_REGION"));
}

Result<std::string> Tools::NewBucket(const std::string& prefix) const {
  static int n = 0;
  const std::string bucket = fmt::format("{}-{}-{}", prefix, getpid(), ++n);
  LTXBUS_ASSIGN_OR_RETURN(auto s, OpenStore(LtxbusS3Url(bucket, s3_port())));
  LTXBUS_RETURN_IF_ERROR(dynamic_cast<store::s3::S3Store&>(*s).CreateBucket());
  return bucket;
}

Result<std::unique_ptr<store::ObjectStore>> Tools::OpenStore(const std::string& url) const {
  return store::Open(url, {s3->env("S3_ACCESS_KEY"), s3->env("S3_SECRET_KEY"), ""});
}

std::vector<std::string> WithEnv(const EnvVars& env, std::vector<std::string> argv) {
  std::vector<std::string> out = {"env"};
  for (const auto& [k, v] : env) out.push_back(k + "=" + v);
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

Status WaitUntil(const std::function<Result<bool>()>& ready, std::chrono::seconds timeout,
                 const std::string& what) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    LTXBUS_ASSIGN_OR_RETURN(bool done, ready());
    if (done) return Status::OK();
    if (std::chrono::steady_clock::now() > deadline) {
      return Status::Timeout("{} within {} s", what, timeout.count());
    }
    std::this_thread::sleep_for(100ms);
  }
}

Result<ltx::TXID> ArchivedTxid(const Tools& t, const std::string& url) {
  LTXBUS_ASSIGN_OR_RETURN(auto s, t.OpenStore(url));
  LTXBUS_ASSIGN_OR_RETURN(auto m, consumer::LoadManifest(*s, consumer::ArchiveLayout::For(*s)));
  return m ? m->manifest.last_txid() : 0;
}

Result<bool> LitestreamHasLtx(const Tools& t, const std::string& url) {
  auto is_ltx = [](const std::string& name) {
    return name.size() > 4 && name.compare(name.size() - 4, 4, ".ltx") == 0;
  };
  if (url.rfind("file://", 0) == 0) {
    std::error_code ec;
    const std::string dir = url.substr(7) + "/ltx";
    if (!std::filesystem::exists(dir, ec)) return false;
    // Litestream writes each file under a temporary name and renames it.
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir, ec)) {
      if (e.is_regular_file() && is_ltx(e.path().filename().string())) return true;
    }
    return false;
  }
  LTXBUS_ASSIGN_OR_RETURN(auto s, t.OpenStore(url));
  LTXBUS_ASSIGN_OR_RETURN(auto objects, s->List(""));
  for (const auto& o : objects) {
    if (is_ltx(o.key)) return true;
  }
  return false;
}

}  // namespace ltxbus::bench
