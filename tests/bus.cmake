# Bus-independent message format, URLs and frame reassembly.
ltxbus_test(bus_test LABELS unit SOURCES ${PROJECT_SOURCE_DIR}/bus/message_test.cc)
