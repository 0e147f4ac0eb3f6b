# System libraries, all from Debian packages (scripts/install-deps.sh).
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(fmt REQUIRED)
find_package(CLI11 REQUIRED)
find_package(nlohmann_json REQUIRED)
find_package(spdlog REQUIRED)
pkg_check_modules(LZ4 REQUIRED IMPORTED_TARGET liblz4)

# The ltxbus binary uses gperftools' tcmalloc: the bus clients allocate every
# message on their own threads and ours free them, and glibc's malloc then
# contends on the allocating thread's arena lock (a fifth of a follower's
# time while catching up; docs/follower.md). Sanitizer builds keep their own
# allocator.
string(TOUPPER "${CMAKE_BUILD_TYPE}" _ltxbus_build_type)
if(_ltxbus_build_type STREQUAL "ASAN")
  set(_ltxbus_tcmalloc_default OFF)
else()
  set(_ltxbus_tcmalloc_default ON)
endif()
option(LTXBUS_TCMALLOC "link the ltxbus binary with tcmalloc_minimal" ${_ltxbus_tcmalloc_default})
if(LTXBUS_TCMALLOC)
  pkg_check_modules(TCMALLOC REQUIRED IMPORTED_TARGET libtcmalloc_minimal)
endif()
if(LTXBUS_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
if(LTXBUS_BUILD_BENCH)
  find_package(benchmark REQUIRED)
endif()
