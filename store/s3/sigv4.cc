#include "store/s3/sigv4.h"

#include <algorithm>
#include <cctype>

namespace ltxbus::store::s3 {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](char c) {
    return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  });
  return out;
}

// Trims and collapses inner runs of spaces, as SigV4 wants header values.
std::string CanonicalValue(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  std::string out;
  bool space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t') {
      space = true;
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  return out;
}

}  // namespace

std::string UriEncode(std::string_view s, bool encode_slash, std::string_view keep_raw) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    const auto ch = static_cast<unsigned char>(c);
    if (std::isalnum(ch) != 0 || c == '-' || c == '_' || c == '.' || c == '~' ||
        (c == '/' && !encode_slash) || keep_raw.find(c) != std::string_view::npos) {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[ch >> 4]);
      out.push_back(kHex[ch & 15]);
    }
  }
  return out;
}

std::string CanonicalQuery(const HeaderList& query, std::string_view keep_raw) {
  std::vector<std::pair<std::string, std::string>> enc;
  enc.reserve(query.size());
  for (const auto& [k, v] : query) {
    enc.emplace_back(UriEncode(k, true, keep_raw), UriEncode(v, true, keep_raw));
  }
  std::sort(enc.begin(), enc.end());
  std::string out;
  for (const auto& [k, v] : enc) {
    if (!out.empty()) out += '&';
    out += k + "=" + v;
  }
  return out;
}

Sha256Digest SigningKey(std::string_view secret, std::string_view date, std::string_view region,
                        std::string_view service) {
  const std::string k = "AWS4" + std::string(secret);
  Sha256Digest key = HmacSha256(AsBytes(k), date);
  key = HmacSha256(key, region);
  key = HmacSha256(key, service);
  return HmacSha256(key, "aws4_request");
}

SigningResult SignV4(const SigningInput& input, const Credentials& credentials,
                     std::string_view region, std::string_view service, std::string_view amz_date) {
  SigningResult r;
  std::vector<std::pair<std::string, std::string>> headers;
  headers.reserve(input.headers.size());
  for (const auto& [k, v] : input.headers) headers.emplace_back(Lower(k), CanonicalValue(v));
  // By name only: repeated headers keep their order.
  std::stable_sort(headers.begin(), headers.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string canonical_headers;
  for (size_t i = 0; i < headers.size(); i++) {
    // Repeated headers join their values with commas.
    if (i > 0 && headers[i].first == headers[i - 1].first) {
      canonical_headers.pop_back();
      canonical_headers += "," + headers[i].second + "\n";
      continue;
    }
    canonical_headers += headers[i].first + ":" + headers[i].second + "\n";
    if (!r.signed_headers.empty()) r.signed_headers += ';';
    r.signed_headers += headers[i].first;
  }
  r.canonical_request = input.method + "\n" + input.canonical_uri + "\n" +
                        CanonicalQuery(input.query, input.query_keep_raw) + "\n" +
                        canonical_headers + "\n" + r.signed_headers + "\n" + input.payload_hash;
  const std::string_view date = amz_date.substr(0, 8);
  const std::string scope = fmt::format("{}/{}/{}/aws4_request", date, region, service);
  r.string_to_sign = fmt::format("AWS4-HMAC-SHA256\n{}\n{}\n{}", amz_date, scope,
                                 HexLower(Sha256Of(r.canonical_request)));
  const Sha256Digest key = SigningKey(credentials.secret_access_key, date, region, service);
  r.signature = HexLower(HmacSha256(key, r.string_to_sign));
  r.authorization = fmt::format("AWS4-HMAC-SHA256 Credential={}/{}, SignedHeaders={}, Signature={}",
                                credentials.access_key_id, scope, r.signed_headers, r.signature);
  return r;
}

}  // namespace ltxbus::store::s3
