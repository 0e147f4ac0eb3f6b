# The private SQLite build and ltxbus's wrapper around it.
ltxbus_test(sqlite_test LABELS unit SOURCES ${PROJECT_SOURCE_DIR}/sqlite/dbpage_test.cc
  LIBS ltxbus::sqlite)
