# Compiler warnings, treated as errors unless LTXBUS_WERROR is off.
function(ltxbus_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow
    -Wnon-virtual-dtor -Wold-style-cast -Wcast-align -Woverloaded-virtual
    -Wconversion -Wsign-conversion -Wnull-dereference -Wimplicit-fallthrough
    $<$<BOOL:${LTXBUS_WERROR}>:-Werror>
    # g++ 12 at -O2/-O3 reports -Wrestrict and -Wmaybe-uninitialized inside
    # libstdc++'s own std::string and std::optional code (GCC bugs 105329,
    # 105651, 107138); they stay warnings, not errors.
    $<$<CXX_COMPILER_ID:GNU>:-Wno-error=restrict -Wno-error=maybe-uninitialized>)
endfunction()
