// Hashes and encodings the object stores need (OpenSSL underneath): SHA-256
// for SigV4 and NATS object digests, HMAC-SHA256 for SigV4 keys, MD5 for S3
// ETags and Content-MD5, hex and base64.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "base/env.h"

namespace ltxbus::store {

using Sha256Digest = std::array<uint8_t, 32>;
using Md5Digest = std::array<uint8_t, 16>;

// Incremental SHA-256.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void Update(std::span<const uint8_t> data);
  void Update(std::string_view data) { Update(AsBytes(data)); }
  // Ends the hash; the object is ready for a new one afterwards.
  Sha256Digest Finish();

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

Sha256Digest Sha256Of(std::span<const uint8_t> data);
inline Sha256Digest Sha256Of(std::string_view data) { return Sha256Of(AsBytes(data)); }
Md5Digest Md5Of(std::span<const uint8_t> data);
Sha256Digest HmacSha256(std::span<const uint8_t> key, std::string_view data);

std::string HexLower(std::span<const uint8_t> data);
// RFC 4648 base64 with padding; `url` selects the URL-safe alphabet (-_).
std::string Base64(std::span<const uint8_t> data, bool url = false);
// Decodes either alphabet, with or without padding; false on a character
// outside both.
bool Base64Decode(std::string_view text, std::string& out);

}  // namespace ltxbus::store
