# ltxbus_test(NAME SOURCES a.cc b.cc LABELS unit|integration [TIMEOUT s] [LIBS ...])
# One GoogleTest binary, registered with CTest test by test and labelled.
function(ltxbus_test name)
  cmake_parse_arguments(T "" "TIMEOUT" "SOURCES;LABELS;LIBS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ltxbus_core ltxbus_test_support ${T_LIBS}
    GTest::gtest GTest::gtest_main GTest::gmock)
  ltxbus_warnings(${name})
  target_compile_definitions(${name} PRIVATE LTXBUS_SOURCE_DIR_FALLBACK="${PROJECT_SOURCE_DIR}")
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  gtest_discover_tests(${name}
    PROPERTIES LABELS "${T_LABELS}" TIMEOUT ${T_TIMEOUT}
    ENVIRONMENT "LTXBUS_SOURCE_DIR=${PROJECT_SOURCE_DIR};LTXBUS_BINARY=$<TARGET_FILE:ltxbus>"
    DISCOVERY_TIMEOUT 60)
endfunction()
