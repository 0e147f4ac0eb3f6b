# `ltxbus replicate` end to end against the real nats-server and Kafka broker.
ltxbus_test(producer_test LABELS integration TIMEOUT 900
  SOURCES integration/producer_test.cc)
# The producer under a broker crash, many databases, and 100 MB transactions.
ltxbus_test(producer_resilience_test LABELS integration TIMEOUT 1800
  SOURCES integration/producer_resilience_test.cc)
