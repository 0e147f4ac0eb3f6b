# Unit tests of the LTX codec (beside the code they test, in ltx/ and base/).
ltxbus_test(ltx_test LABELS unit SOURCES
  ${PROJECT_SOURCE_DIR}/base/crc64_test.cc
  ${PROJECT_SOURCE_DIR}/ltx/ltx_test.cc
  ${PROJECT_SOURCE_DIR}/ltx/checksum_test.cc
  ${PROJECT_SOURCE_DIR}/ltx/encoder_test.cc
  ${PROJECT_SOURCE_DIR}/ltx/decoder_test.cc
  ${PROJECT_SOURCE_DIR}/ltx/compactor_test.cc
  ${PROJECT_SOURCE_DIR}/ltx/apply_test.cc)
ltxbus_test(base_test LABELS unit SOURCES ${PROJECT_SOURCE_DIR}/base/env_test.cc
  ${PROJECT_SOURCE_DIR}/base/metrics_server_test.cc ${PROJECT_SOURCE_DIR}/base/prometheus_test.cc)
