# The Asan build type: AddressSanitizer + UndefinedBehaviorSanitizer, run by CI.
set(_san_flags "-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all")
set(CMAKE_C_FLAGS_ASAN "${_san_flags}" CACHE STRING "" FORCE)
set(CMAKE_CXX_FLAGS_ASAN "${_san_flags}" CACHE STRING "" FORCE)
set(CMAKE_EXE_LINKER_FLAGS_ASAN "-fsanitize=address,undefined" CACHE STRING "" FORCE)
set(CMAKE_SHARED_LINKER_FLAGS_ASAN "-fsanitize=address,undefined" CACHE STRING "" FORCE)
