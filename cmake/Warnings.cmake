# Compiler warnings, treated as errors unless LTXBUS_WERROR is off.
function(ltxbus_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow
    -Wnon-virtual-dtor -Wold-style-cast -Wcast-align -Woverloaded-virtual
    -Wconversion -Wsign-conversion -Wnull-dereference -Wimplicit-fallthrough
    $<$<BOOL:${LTXBUS_WERROR}>:-Werror>)
endfunction()
