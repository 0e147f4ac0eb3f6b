# The consumer API (consumer/transaction_stream.h) and `ltxbus tail`.
ltxbus_test(consumer_api_test LABELS unit SOURCES
  ${PROJECT_SOURCE_DIR}/consumer/stream_position_test.cc
  ${PROJECT_SOURCE_DIR}/consumer/stream_locator_test.cc
  ${PROJECT_SOURCE_DIR}/consumer/transaction_stream_test.cc
  ${PROJECT_SOURCE_DIR}/consumer/table_map_test.cc)

# `ltxbus tail` and examples/cache_invalidator against the real nats-server
# and Kafka broker; the tests purge and delete records with cnats and
# librdkafka directly (retention).
if(NOT TARGET PkgConfig::NATS_TESTS)
  pkg_check_modules(NATS_TESTS REQUIRED IMPORTED_TARGET libnats)
endif()
if(NOT TARGET PkgConfig::RDKAFKA)
  pkg_check_modules(RDKAFKA REQUIRED IMPORTED_TARGET rdkafka)
endif()
ltxbus_test(tail_test LABELS integration TIMEOUT 900
  SOURCES integration/tail_test.cc integration/tail_example_test.cc integration/tail_support.cc
  LIBS PkgConfig::NATS_TESTS PkgConfig::RDKAFKA nlohmann_json::nlohmann_json)
add_dependencies(tail_test ltxbus_cache_invalidator)

# find_package(ltxbus) from an out-of-tree project, against a temporary
# install of this build.
ltxbus_test(package_test LABELS integration TIMEOUT 900 SOURCES integration/package_test.cc)
string(TOUPPER "${CMAKE_BUILD_TYPE}" _config)
target_compile_definitions(package_test PRIVATE
  LTXBUS_TEST_BUILD_DIR="${PROJECT_BINARY_DIR}"
  LTXBUS_TEST_GENERATOR="${CMAKE_GENERATOR}"
  LTXBUS_TEST_CXX_FLAGS="${CMAKE_CXX_FLAGS} ${CMAKE_CXX_FLAGS_${_config}}"
  LTXBUS_TEST_LINKER_FLAGS="${CMAKE_EXE_LINKER_FLAGS} ${CMAKE_EXE_LINKER_FLAGS_${_config}}")
# What `cmake --install` copies must be built first.
add_dependencies(package_test ltxbus ltxbus_core ltxbus_sqlite)
