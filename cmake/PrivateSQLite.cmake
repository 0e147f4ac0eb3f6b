# ltxbus's private SQLite (>= 3.47.0, SQLITE_ENABLE_DBPAGE_VTAB), built from
# Debian's forky/sid source package by scripts/build-sqlite.sh and cached
# outside the repository. Linked statically with hidden symbols; a process that
# links it must not also link the system libsqlite3.
set(LTXBUS_TOOLS_DIR "$ENV{LTXBUS_TOOLS}")
if(NOT LTXBUS_TOOLS_DIR)
  if(DEFINED ENV{XDG_CACHE_HOME})
    set(LTXBUS_TOOLS_DIR "$ENV{XDG_CACHE_HOME}/ltxbus")
  else()
    set(LTXBUS_TOOLS_DIR "$ENV{HOME}/.cache/ltxbus")
  endif()
endif()
set(LTXBUS_SQLITE_DIR "${LTXBUS_TOOLS_DIR}/sqlite/current" CACHE PATH
  "Directory with the private sqlite3.c and sqlite3.h")
if(NOT EXISTS "${LTXBUS_SQLITE_DIR}/sqlite3.c")
  message(FATAL_ERROR "private SQLite not found in ${LTXBUS_SQLITE_DIR}; run scripts/build-sqlite.sh")
endif()
file(STRINGS "${LTXBUS_SQLITE_DIR}/sqlite3.h" _ver REGEX "^#define SQLITE_VERSION_NUMBER")
string(REGEX MATCH "[0-9]+" _ver "${_ver}")
if(_ver LESS 3047000)
  message(FATAL_ERROR "private SQLite ${_ver} is older than 3.47.0")
endif()
add_library(ltxbus_sqlite STATIC "${LTXBUS_SQLITE_DIR}/sqlite3.c")
add_library(ltxbus::sqlite ALIAS ltxbus_sqlite)
target_include_directories(ltxbus_sqlite SYSTEM PUBLIC "${LTXBUS_SQLITE_DIR}")
target_compile_definitions(ltxbus_sqlite PUBLIC
  SQLITE_ENABLE_DBPAGE_VTAB SQLITE_THREADSAFE=1 SQLITE_DEFAULT_WAL_SYNCHRONOUS=1
  SQLITE_OMIT_LOAD_EXTENSION SQLITE_DQS=0)
target_compile_options(ltxbus_sqlite PRIVATE -w -fvisibility=hidden)
# dbstat: which b-tree owns each page (consumer/table_map.h). Only sqlite3.c
# needs it, so it stays private to the library.
target_compile_definitions(ltxbus_sqlite PRIVATE SQLITE_ENABLE_DBSTAT_VTAB)
set_target_properties(ltxbus_sqlite PROPERTIES POSITION_INDEPENDENT_CODE ON)
target_link_libraries(ltxbus_sqlite PUBLIC Threads::Threads ${CMAKE_DL_LIBS} m)
message(STATUS "private SQLite ${_ver} from ${LTXBUS_SQLITE_DIR}")
