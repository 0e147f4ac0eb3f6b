# The follower (consumer/replica*, consumer/follower*): unit tests beside the
# code, on a real private-SQLite source and the in-process bus.
ltxbus_test(follower_unit_test LABELS unit SOURCES
  ${PROJECT_SOURCE_DIR}/consumer/follower_test_util.cc
  ${PROJECT_SOURCE_DIR}/consumer/replica_position_test.cc
  ${PROJECT_SOURCE_DIR}/consumer/replica_test.cc
  ${PROJECT_SOURCE_DIR}/consumer/replica_checkpointer_test.cc
  ${PROJECT_SOURCE_DIR}/consumer/follower_test.cc
  ${PROJECT_SOURCE_DIR}/consumer/follower_lag_test.cc
  LIBS ltxbus::sqlite)
# `ltxbus follow` end to end against the real nats-server and Kafka broker,
# with the app and the readers as separate processes on the system SQLite.
ltxbus_test(follower_test LABELS integration TIMEOUT 900
  SOURCES integration/follower_test.cc integration/follower_support.cc
  LIBS nlohmann_json::nlohmann_json)
# Lag on `ltxbus status` and /metrics, two replicas in one -config process.
ltxbus_test(follower_lag_test LABELS integration TIMEOUT 600
  SOURCES integration/follower_lag_test.cc integration/follower_support.cc
  LIBS nlohmann_json::nlohmann_json)
# Injected bad frames and retention shorter than a follower's downtime.
ltxbus_test(follower_resync_test LABELS integration TIMEOUT 600
  SOURCES integration/follower_resync_test.cc integration/follower_support.cc
  ${PROJECT_SOURCE_DIR}/consumer/follower_test_util.cc
  LIBS nlohmann_json::nlohmann_json ltxbus::sqlite)
# Bootstrap from the archive (nats:// and file:// stores, no S3) after the
# stream lost a follower's position, and a snapshot that resets the chain.
ltxbus_test(follower_archive_test LABELS integration TIMEOUT 900
  SOURCES integration/follower_archive_test.cc integration/follower_support.cc
  LIBS nlohmann_json::nlohmann_json)
