# The producer's capture loop against a real app process and an in-process bus.
ltxbus_test(capture_test LABELS unit TIMEOUT 600 SOURCES ${PROJECT_SOURCE_DIR}/producer/capture_test.cc)
# The producer's /metrics rendering.
ltxbus_test(replicator_metrics_test LABELS unit
  SOURCES ${PROJECT_SOURCE_DIR}/producer/replicator_metrics_test.cc)
