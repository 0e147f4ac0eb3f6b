# Unit tests of the producer's WAL capture (beside the code, in producer/),
# run against real WAL and -shm files written by the private SQLite.
ltxbus_test(wal_test LABELS unit SOURCES
  ${PROJECT_SOURCE_DIR}/producer/wal_format_test.cc
  ${PROJECT_SOURCE_DIR}/producer/wal_reader_test.cc
  ${PROJECT_SOURCE_DIR}/producer/wal_index_test.cc
  ${PROJECT_SOURCE_DIR}/producer/wal_watcher_test.cc
  LIBS ltxbus::sqlite)
