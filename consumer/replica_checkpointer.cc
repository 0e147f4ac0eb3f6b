#include "consumer/replica_checkpointer.h"

#include <spdlog/spdlog.h>
#include <sqlite3.h>

namespace ltxbus::consumer {

Result<std::unique_ptr<ReplicaCheckpointer>> ReplicaCheckpointer::Start(const std::string& path) {
  auto db = sqlite::Database::Open(path, sqlite::Database::Mode::kReadWrite);
  if (!db.ok()) return db.status().WithContext("opening the replica's checkpoint connection");
  // As the replica's other connections: a schema this build cannot parse
  // must not stop it (the read below loads the schema).
  int on = 1;
  sqlite3_db_config(db->raw(), SQLITE_DBCONFIG_WRITABLE_SCHEMA, 1, &on);
  // As the writer: the database file is fsynced after each checkpoint.
  LTXBUS_RETURN_IF_ERROR(db->Exec("PRAGMA synchronous=FULL"));
  // Opens the WAL now: a connection that has not read a database created
  // empty and switched to WAL may not know its mode yet, and its checkpoints
  // would do nothing (SQLite returns OK with -1 frames).
  LTXBUS_RETURN_IF_ERROR(db->QueryInt64("PRAGMA page_count").status());
  return std::unique_ptr<ReplicaCheckpointer>(new ReplicaCheckpointer(path, std::move(*db)));
}

ReplicaCheckpointer::ReplicaCheckpointer(std::string path, sqlite::Database db)
    : path_(std::move(path)), db_(std::move(db)), thread_([this] { Run(); }) {}

ReplicaCheckpointer::~ReplicaCheckpointer() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  thread_.join();
}

void ReplicaCheckpointer::Request() {
  {
    std::lock_guard lock(mu_);
    requested_ = true;
  }
  cv_.notify_one();
}

std::unique_lock<std::mutex> ReplicaCheckpointer::Pause() {
  return std::unique_lock<std::mutex>(checkpoint_mu_);
}

uint64_t ReplicaCheckpointer::completed() const {
  std::lock_guard lock(mu_);
  return completed_;
}

void ReplicaCheckpointer::Run() {
  for (;;) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return requested_ || stopping_; });
      if (stopping_) return;
      requested_ = false;
    }
    int log = 0, copied = 0;
    int rc;
    {
      std::lock_guard hold(checkpoint_mu_);
      rc = sqlite3_wal_checkpoint_v2(db_.raw(), nullptr, SQLITE_CHECKPOINT_PASSIVE, &log, &copied);
    }
    if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
      spdlog::warn("{}: PASSIVE checkpoint: {}", path_, sqlite3_errmsg(db_.raw()));
      continue;
    }
    if (rc == SQLITE_OK && log >= 0 && copied == log) {
      std::lock_guard lock(mu_);
      completed_++;
    }
  }
}

}  // namespace ltxbus::consumer
