# Object stores (store/, docs/object-stores.md): unit tests beside the code,
# and one conformance suite run against every backend with real servers
# (moto with signature checking, versitygw, nats-server) and a local directory.
set(_store ${PROJECT_SOURCE_DIR}/store)
ltxbus_test(store_basics_test LABELS unit SOURCES
  ${_store}/object_store_test.cc ${_store}/store_url_test.cc ${_store}/time_format_test.cc
  ${_store}/digest_test.cc)
ltxbus_test(store_sigv4_test LABELS unit SOURCES ${_store}/s3/sigv4_test.cc)
ltxbus_test(store_s3_test LABELS unit SOURCES ${_store}/s3/s3_xml_test.cc ${_store}/s3/s3_store_test.cc)
ltxbus_test(store_file_test LABELS unit SOURCES ${_store}/file/file_store_test.cc)
ltxbus_test(store_nats_meta_test LABELS unit SOURCES ${_store}/nats/nats_object_meta_test.cc)
ltxbus_test(store_test LABELS integration TIMEOUT 300
  SOURCES integration/store_test.cc integration/store_cutting_proxy.cc)
