# The NATS JetStream bus: option parsing (unit) and the bus against a real
# nats-server started by tests/support/testbed.h (integration; the outage
# tests beside the code share its binary and helpers). The tests use cnats
# directly too (inspecting streams, publishing by hand).
pkg_check_modules(NATS_TESTS REQUIRED IMPORTED_TARGET libnats)
ltxbus_test(nats_options_test LABELS unit
  SOURCES ${PROJECT_SOURCE_DIR}/bus/nats/nats_options_test.cc)
ltxbus_test(nats_bus_test LABELS integration TIMEOUT 120
  SOURCES integration/nats_bus_test.cc integration/nats_batch_test.cc
    ${PROJECT_SOURCE_DIR}/bus/nats/nats_outage_test.cc
    ${PROJECT_SOURCE_DIR}/bus/nats/nats_window_test.cc
  LIBS PkgConfig::NATS_TESTS)
