// AWS Signature Version 4 for S3 requests (header authorization), in project
// code on OpenSSL: libcurl 7.88's CURLOPT_AWS_SIGV4 canonicalises paths and
// queries wrongly in several cases fixed only in later releases.
//
//   canonical request = METHOD \n URI \n QUERY \n HEADERS \n SIGNED-HEADERS \n PAYLOAD-HASH
//   string to sign    = AWS4-HMAC-SHA256 \n AMZ-DATE \n SCOPE \n hex(sha256(canonical request))
//   signing key       = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service),
//   "aws4_request") signature         = hex(HMAC(signing key, string to sign))
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "store/digest.h"

namespace ltxbus::store::s3 {

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // temporary credentials: sent as x-amz-security-token
};

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct SigningInput {
  std::string method;
  // The request path exactly as sent, already URI-encoded ("/bucket/a%20b").
  std::string canonical_uri;
  // Query parameters, not encoded; the signer encodes and sorts them.
  HeaderList query;
  // Every header to sign (names in any case). Must include host and
  // x-amz-date; x-amz-content-sha256 for S3.
  HeaderList headers;
  // Hex SHA-256 of the body, or "UNSIGNED-PAYLOAD".
  std::string payload_hash;
  // Query characters to leave unencoded (see CanonicalQuery); normally none.
  std::string query_keep_raw;
};

struct SigningResult {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signed_headers;  // "host;range;x-amz-content-sha256;x-amz-date"
  std::string signature;       // lower-case hex
  std::string authorization;   // the Authorization header's value
};

// `amz_date` is "YYYYMMDDTHHMMSSZ" (the request's x-amz-date).
SigningResult SignV4(const SigningInput& input, const Credentials& credentials,
                     std::string_view region, std::string_view service, std::string_view amz_date);

// The signing key for a date ("YYYYMMDD"), region and service.
Sha256Digest SigningKey(std::string_view secret, std::string_view date, std::string_view region,
                        std::string_view service);

// SigV4 URI encoding: unreserved characters (A-Z a-z 0-9 - _ . ~) stay, every
// other byte becomes %XX (upper-case hex); '/' stays unless `encode_slash`.
std::string UriEncode(std::string_view s, bool encode_slash, std::string_view keep_raw = "");

// The canonical query string: each name and value encoded, sorted by name
// then value, "a=1&b=&c=3". Also what the request must send. Characters in
// `keep_raw` stay unencoded (for servers that decode them before checking
// the signature; see S3Client).
std::string CanonicalQuery(const HeaderList& query, std::string_view keep_raw = "");

// Hex SHA-256 of an empty body.
inline constexpr std::string_view kEmptyPayloadHash =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

}  // namespace ltxbus::store::s3
