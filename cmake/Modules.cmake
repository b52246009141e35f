# dm_module(NAME DEPS ...): one static library per directory src/NAME, built from its *.cpp.
# Layers depend one way: core <- kernels/formats <- model <- generate/train/eval/data <- serve <- cli.
function(dm_module name)
  cmake_parse_arguments(ARG "" "" "DEPS;LIBS" ${ARGN})
  file(GLOB srcs CONFIGURE_DEPENDS "${CMAKE_CURRENT_SOURCE_DIR}/${name}/*.cpp")
  if(NOT srcs)
    return()
  endif()
  add_library(dm_${name} STATIC ${srcs})
  # Public headers: include/ (installed as <prefix>/include); internal headers: src/<module>/*.h, included
  # as "<module>/name.h" by the modules, the CLI, tests and benches, never installed.
  target_include_directories(dm_${name} PUBLIC $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
                                               $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>
                             PRIVATE ${PROJECT_SOURCE_DIR}/src)
  set(deps)
  foreach(d ${ARG_DEPS})
    if(TARGET dm_${d})
      list(APPEND deps dm_${d})
    endif()
  endforeach()
  target_link_libraries(dm_${name} PUBLIC ${deps} ${ARG_LIBS} PRIVATE dm_options)
  set_property(GLOBAL APPEND PROPERTY DM_MODULES dm_${name})
endfunction()
