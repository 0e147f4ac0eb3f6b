# `ltxbus sync`: its coverage rules and wait against the in-process MemoryBus
# (unit), and end to end with `ltxbus replicate` on the real nats-server and
# Kafka broker, plus Bus::ReadLastFrame on both (integration).
ltxbus_test(sync_rules_test LABELS unit SOURCES ${PROJECT_SOURCE_DIR}/bus/sync_test.cc)
ltxbus_test(sync_test LABELS integration TIMEOUT 600
  SOURCES integration/sync_test.cc)
