// The JetStream-only object store: archives on a NATS server with no S3 at
// all. cnats 3.4.1 has no Object Store client, so this writes the JetStream
// Object Store wire format itself (store/nats/nats_object_meta.h): an object
// is chunk messages on its own subject $O.<bucket>.C.<nuid> plus one meta
// message (JSON: size, chunk count, SHA-256 digest, headers) on
// $O.<bucket>.M.<base64url(name)>. Buckets are readable by nats.go, the
// `nats obj` CLI and Litestream's nats replica. Design: docs/object-stores.md.
//
// URL: nats://[user:pass@]HOST:PORT[,HOST:PORT]/BUCKET[/PATH][?option=value&...]
//   create      "false": the bucket (stream OBJ_<BUCKET>) must exist; default
//               true (created as nats.go creates object stores)
//   chunk-size  bytes per chunk message, 1 KiB to the server's max_payload
//               less 4 KiB; default 512 KiB (capped by max_payload)
//   timeout     each JetStream request's timeout, Go duration; default 5s
//   replicas    stream replicas when creating; default 1
// Object names are PATH/key (just key without a PATH); Litestream's own
// layout uses no PATH ("ltx/<level>/<name>").
//
// Put publishes the chunks under a fresh nuid, then the meta message with
// Nats-Rollup: sub (which purges the previous meta) and an expected last
// subject sequence, then purges the previous version's chunks: readers see
// the old object or the new one, and a writer that crashes midway leaves
// only unreferenced chunks. Every publish carries a Nats-Msg-Id, so a
// publish retried after a lost acknowledgement is stored once. Conditions
// map onto the expected last subject sequence of the meta subject (the
// ETag is the meta message's stream sequence); a refused one is Conflict.
// Ranged reads fetch only the chunks they need (by direct get; chunk
// sequences are recorded in the meta); a whole read checks the digest.
#pragma once

#include <memory>

#include "store/object_store.h"
#include "store/store_url.h"

namespace ltxbus::store::nats {

Result<std::unique_ptr<ObjectStore>> OpenNatsStore(const StoreUrl& url);

}  // namespace ltxbus::store::nats
