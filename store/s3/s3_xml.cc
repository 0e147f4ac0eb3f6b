#include "store/s3/s3_xml.h"

#include <pugixml.hpp>

#include <sstream>

#include "store/time_format.h"

namespace ltxbus::store::s3 {
namespace {

constexpr const char* kNamespace = "http://s3.amazonaws.com/doc/2006-03-01/";

Result<pugi::xml_document> Load(std::string_view body, std::string_view what) {
  pugi::xml_document doc;
  pugi::xml_parse_result r = doc.load_buffer(body.data(), body.size());
  if (!r) {
    return Status::Corruption("S3 sent an unreadable {} document ({} at byte {}): '{}'", what,
                              r.description(), r.offset, body.substr(0, 200));
  }
  return doc;
}

std::string Text(const pugi::xml_node& node, const char* child) {
  return node.child(child).text().as_string();
}

S3Error ErrorFrom(const pugi::xml_node& e) {
  return S3Error{Text(e, "Code"), Text(e, "Message"), Text(e, "RequestId")};
}

std::string Serialize(const pugi::xml_document& doc) {
  std::ostringstream out;
  doc.save(out, "", pugi::format_raw);
  return out.str();
}

}  // namespace

std::optional<S3Error> ParseError(std::string_view body) {
  pugi::xml_document doc;
  if (!doc.load_buffer(body.data(), body.size())) return std::nullopt;
  pugi::xml_node e = doc.child("Error");
  if (!e) return std::nullopt;
  return ErrorFrom(e);
}

Result<ListPage> ParseListObjectsV2(std::string_view body) {
  LTXBUS_ASSIGN_OR_RETURN(pugi::xml_document doc, Load(body, "ListObjectsV2"));
  pugi::xml_node root = doc.child("ListBucketResult");
  if (!root)
    return Status::Corruption("S3 listing without ListBucketResult: '{}'", body.substr(0, 200));
  ListPage page;
  for (pugi::xml_node c : root.children("Contents")) {
    ListedObject o;
    o.key = Text(c, "Key");
    o.size = c.child("Size").text().as_ullong();
    o.etag = Text(c, "ETag");
    std::string modified = Text(c, "LastModified");
    if (!modified.empty()) {
      auto ms = ParseTimestamp(modified);
      if (ms.ok()) o.last_modified_ms = *ms;
    }
    page.objects.push_back(std::move(o));
  }
  page.truncated = std::string_view(root.child("IsTruncated").text().as_string()) == "true";
  page.next_token = Text(root, "NextContinuationToken");
  if (page.truncated && page.next_token.empty()) {
    return Status::Corruption("S3 listing is truncated but has no NextContinuationToken");
  }
  return page;
}

Result<std::string> ParseUploadId(std::string_view body) {
  LTXBUS_ASSIGN_OR_RETURN(pugi::xml_document doc, Load(body, "InitiateMultipartUpload"));
  std::string id = doc.child("InitiateMultipartUploadResult").child("UploadId").text().as_string();
  if (id.empty()) {
    return Status::Corruption("S3 started a multipart upload without an UploadId: '{}'",
                              body.substr(0, 200));
  }
  return id;
}

std::string CompleteMultipartBody(const std::vector<CompletedPart>& parts) {
  pugi::xml_document doc;
  pugi::xml_node root = doc.append_child("CompleteMultipartUpload");
  root.append_attribute("xmlns") = kNamespace;
  for (const CompletedPart& p : parts) {
    pugi::xml_node part = root.append_child("Part");
    part.append_child("PartNumber").text() = p.number;
    part.append_child("ETag").text() = p.etag.c_str();
  }
  return Serialize(doc);
}

Result<CompleteResult> ParseCompleteMultipart(std::string_view body) {
  LTXBUS_ASSIGN_OR_RETURN(pugi::xml_document doc, Load(body, "CompleteMultipartUpload"));
  CompleteResult r;
  if (pugi::xml_node e = doc.child("Error")) {
    r.error = ErrorFrom(e);
    return r;
  }
  pugi::xml_node root = doc.child("CompleteMultipartUploadResult");
  // moto names the element after the operation's response.
  if (!root) root = doc.child("CompleteMultipartUploadResponse");
  if (!root) {
    return Status::Corruption("S3 completed a multipart upload with an unexpected reply: '{}'",
                              body.substr(0, 200));
  }
  r.etag = Text(root, "ETag");
  return r;
}

std::string DeleteObjectsBody(const std::vector<std::string>& keys) {
  pugi::xml_document doc;
  pugi::xml_node root = doc.append_child("Delete");
  root.append_attribute("xmlns") = kNamespace;
  root.append_child("Quiet").text() = "true";
  for (const std::string& k : keys) {
    root.append_child("Object").append_child("Key").text() = k.c_str();
  }
  return Serialize(doc);
}

Result<std::vector<DeleteFailure>> ParseDeleteResult(std::string_view body) {
  LTXBUS_ASSIGN_OR_RETURN(pugi::xml_document doc, Load(body, "DeleteObjects"));
  pugi::xml_node root = doc.child("DeleteResult");
  if (!root) {
    return Status::Corruption("S3 answered DeleteObjects with an unexpected reply: '{}'",
                              body.substr(0, 200));
  }
  std::vector<DeleteFailure> out;
  for (pugi::xml_node e : root.children("Error")) {
    out.push_back(DeleteFailure{Text(e, "Key"), ErrorFrom(e)});
  }
  return out;
}

}  // namespace ltxbus::store::s3
