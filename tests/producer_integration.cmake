# `ltxbus replicate` end to end against the real nats-server and Kafka broker.
ltxbus_test(producer_test LABELS integration TIMEOUT 900
  SOURCES integration/producer_test.cc)
