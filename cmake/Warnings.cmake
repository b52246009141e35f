# Warnings and sanitizers applied to every target of ours (not to system headers).
add_library(dm_options INTERFACE)
target_compile_options(dm_options INTERFACE -Wall -Wextra)
# GCC 12 reports a false -Wrestrict inside libstdc++ string code (GCC bug 105329).
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  target_compile_options(dm_options INTERFACE -Wno-restrict)
endif()
if(DM_SANITIZE)
  # -g1: file:line in reports without the compile cost of full debug info.
  target_compile_options(dm_options INTERFACE -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined -g1)
  target_link_options(dm_options INTERFACE -fsanitize=address,undefined)
endif()
if(DM_FUZZ)
  target_compile_options(dm_options INTERFACE -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -g1)
  target_link_options(dm_options INTERFACE -fsanitize=address,undefined)
endif()
