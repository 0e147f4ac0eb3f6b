# The follower (consumer/replica*, consumer/follower*): unit tests beside the
# code, on a real private-SQLite source and the in-process bus.
ltxbus_test(follower_unit_test LABELS unit SOURCES
  ${PROJECT_SOURCE_DIR}/consumer/follower_test_util.cc
  ${PROJECT_SOURCE_DIR}/consumer/replica_position_test.cc
  ${PROJECT_SOURCE_DIR}/consumer/replica_test.cc
  ${PROJECT_SOURCE_DIR}/consumer/follower_test.cc
  LIBS ltxbus::sqlite)
# `ltxbus follow` end to end against the real nats-server and Kafka broker,
# with the app and the readers as separate processes on the system SQLite.
ltxbus_test(follower_test LABELS integration TIMEOUT 900
  SOURCES integration/follower_test.cc LIBS nlohmann_json::nlohmann_json)
