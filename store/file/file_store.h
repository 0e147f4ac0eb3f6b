// The local-directory object store: file:///DIR (or a plain path). Key
// "a/b/c" is the file DIR/a/b/c, so Litestream's file layout
// (DIR/ltx/<level>/<name>) is readable by both tools.
//
// Writes are atomic and durable: the bytes go to a temporary file beside the
// target (".<name>.<random>.tmp", a name no key can have and Litestream
// ignores), which is fsynced, given its metadata and mtime, then renamed
// over the target; the directory is fsynced after. A crash leaves the old
// object or the new one, and at worst a stray temporary file.
//
// Conditional writes are safe on one host: the final step (check, then
// rename) runs under an exclusive flock(2) on DIR/.ltxbus-lock, which every
// write and delete of the store takes, so a check cannot be overtaken
// between the check and the rename. Create-only links the temporary file to
// the target (link(2) fails if it exists), so even a writer that ignores the
// lock cannot be overwritten. Over NFS flock is emulated with fcntl locks:
// do not share one directory between hosts.
//
// ETags are "<inode>-<change time in ns>-<size>" (hex): every write makes a
// new inode and sets a new change time, and no content hash is needed.
//
// Metadata is kept in extended attributes (user.ltxbus.<key>); the
// litestream-timestamp key also sets the file's mtime, which is where
// Litestream's file backend reads it. On a file system without user
// extended attributes only that key can be stored.
//
// This backend calls POSIX directly rather than through base/env.h: it needs
// link(2), flock(2), fstat's inode and change time, and extended attributes,
// which Env does not offer.
#pragma once

#include <memory>

#include "store/object_store.h"
#include "store/store_url.h"

namespace ltxbus::store::file {

Result<std::unique_ptr<ObjectStore>> OpenFileStore(const StoreUrl& url);

}  // namespace ltxbus::store::file
