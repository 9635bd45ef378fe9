# The fuzz targets, fuzz/<target>.cpp, one executable each (fuzz_<target>),
# shared by the libFuzzer build (fuzz/CMakeLists.txt) and the test build
# (tests/CMakeLists.txt, which adds the standalone driver). A target named
# <folder>_<what> links postern_<folder> (config_load links postern_config);
# one whose prefix names no library links them all.
function(postern_fuzz_targets out_targets)
  set(extra_sources ${ARGN})
  file(GLOB sources CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/fuzz/*.cpp)
  list(FILTER sources EXCLUDE REGEX "standalone_main\\.cpp$")
  set(made)
  foreach(source IN LISTS sources)
    get_filename_component(target ${source} NAME_WE)
    string(REGEX REPLACE "_.*" "" folder ${target})
    add_executable(fuzz_${target} ${source} ${extra_sources})
    target_include_directories(fuzz_${target} PRIVATE ${PROJECT_SOURCE_DIR}/src)
    if(TARGET postern_${folder})
      target_link_libraries(fuzz_${target} PRIVATE postern_${folder})
    else()
      target_link_libraries(fuzz_${target} PRIVATE ${POSTERN_LIBS})
    endif()
    list(APPEND made ${target})
  endforeach()
  set(${out_targets} ${made} PARENT_SCOPE)
endfunction()
