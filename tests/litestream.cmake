# Interop with the real Litestream v0.5.16 (scripts/install-deps.sh installs
# it): Litestream-written archives decoded and applied by ltxbus, and
# ltxbus-written archives restored by Litestream. See docs/litestream-interop.md.
# ltxbus_test makes the binary depend on the ltxbus CLI, which the tests run.

ltxbus_test(litestream_interop_test LABELS integration TIMEOUT 180
  SOURCES
    integration/litestream_interop_test.cc
    integration/litestream_restore_test.cc
    integration/litestream_archive.cc
    integration/litestream_cli.cc
    integration/litestream_workload.cc
  LIBS nlohmann_json::nlohmann_json)
