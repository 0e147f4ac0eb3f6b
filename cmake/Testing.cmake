# ltxbus_test(NAME SOURCES a.cc b.cc LABELS unit|integration [TIMEOUT s] [LIBS ...])
# One GoogleTest binary, labelled. Unit tests are registered with CTest test
# by test; integration binaries run whole, as one CTest test, so that each
# suite starts its real servers once (Kafka alone takes seconds to start).
function(ltxbus_test name)
  cmake_parse_arguments(T "" "TIMEOUT" "SOURCES;LABELS;LIBS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ltxbus_core ltxbus_test_support ${T_LIBS}
    GTest::gtest GTest::gtest_main GTest::gmock)
  ltxbus_warnings(${name})
  add_dependencies(${name} ltxbus)  # tests run the CLI
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  set(_env "LTXBUS_SOURCE_DIR=${PROJECT_SOURCE_DIR};LTXBUS_BINARY=$<TARGET_FILE:ltxbus>")
  if("integration" IN_LIST T_LABELS)
    add_test(NAME ${name} COMMAND ${name} --gtest_color=no)
    set_tests_properties(${name} PROPERTIES LABELS "${T_LABELS}" TIMEOUT ${T_TIMEOUT}
      ENVIRONMENT "${_env}")
  else()
    gtest_discover_tests(${name}
      PROPERTIES LABELS "${T_LABELS}" TIMEOUT ${T_TIMEOUT} ENVIRONMENT "${_env}"
      DISCOVERY_TIMEOUT 60)
  endif()
endfunction()
