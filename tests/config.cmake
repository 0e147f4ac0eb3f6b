ltxbus_test(config_test LABELS unit SOURCES ${PROJECT_SOURCE_DIR}/config/config_test.cc)
