# The real-server test bed (docs/testbed.md): scripts/servers/*.sh started by
# tests/support/testbed.h, and the tests that prove each server works.
target_sources(ltxbus_test_support PRIVATE support/testbed.cc)
# Fallback for SourceDir() when LTXBUS_SOURCE_DIR is unset (a binary run by hand).
target_compile_definitions(ltxbus_test_support PRIVATE
  LTXBUS_DEFAULT_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
  LTXBUS_DEFAULT_BINARY="$<TARGET_FILE:ltxbus>")

pkg_check_modules(RDKAFKA REQUIRED IMPORTED_TARGET rdkafka)
pkg_check_modules(LIBNATS REQUIRED IMPORTED_TARGET libnats)
pkg_check_modules(LIBCURL REQUIRED IMPORTED_TARGET libcurl)
find_package(OpenSSL REQUIRED)

ltxbus_test(testbed_test SOURCES integration/testbed_test.cc LABELS integration
  LIBS PkgConfig::RDKAFKA PkgConfig::LIBNATS PkgConfig::LIBCURL OpenSSL::Crypto)
ltxbus_test(process_test SOURCES ${PROJECT_SOURCE_DIR}/base/process_test.cc LABELS unit)
