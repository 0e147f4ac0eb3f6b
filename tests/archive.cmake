# The archiver, restore and verify (consumer/archive_*, archiver, restore,
# verify; docs/archive.md): unit tests on the in-process bus and a local
# directory, and integration tests against real servers and Litestream.
ltxbus_test(archive_unit_test LABELS unit SOURCES
  ${PROJECT_SOURCE_DIR}/consumer/archive_layout_test.cc
  ${PROJECT_SOURCE_DIR}/consumer/archiver_test.cc)
ltxbus_test(archive_test LABELS integration TIMEOUT 900
  SOURCES integration/archive_test.cc integration/archive_support.cc
    integration/litestream_archive.cc integration/litestream_cli.cc
    integration/litestream_workload.cc
  LIBS nlohmann_json::nlohmann_json)
