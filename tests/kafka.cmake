# The Kafka bus (bus/kafka/) against a real Kafka 3.9.1 broker from the test
# bed; the suite shares one broker, each test uses its own topic.
if(NOT TARGET PkgConfig::RDKAFKA)
  pkg_check_modules(RDKAFKA REQUIRED IMPORTED_TARGET rdkafka)
endif()
ltxbus_test(kafka_bus_test LABELS integration TIMEOUT 180
  SOURCES integration/kafka_bus_test.cc
  LIBS PkgConfig::RDKAFKA)
