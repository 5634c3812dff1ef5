# One static library per layer, and one layer per folder: xsam_<folder> is built from src/<folder>/*.cpp
# and nothing else, so work in progress in one layer never breaks the build of another layer's tests.
# deps: the layers (or packages) it may include, one direction only (docs/design/architecture.md).
function(xsam_layer folder deps)
  file(GLOB sources CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/${folder}/*.cpp)
  if(NOT sources)
    message(FATAL_ERROR "xsam_layer(${folder}): src/${folder}/ has no .cpp file")
  endif()
  add_library(xsam_${folder} STATIC ${sources})
  target_include_directories(xsam_${folder} PUBLIC ${CMAKE_SOURCE_DIR}/src ${CMAKE_SOURCE_DIR}/include)
  target_link_libraries(xsam_${folder} PUBLIC ${deps})
  target_compile_options(xsam_${folder} PRIVATE -Wall -Wextra -Wno-unused-parameter)
endfunction()

# A test executable per group: tests/<kind>/<group>_*.cpp, linked to the layers it names.
function(xsam_test_group group libs)
  file(GLOB sources CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/*/${group}_*.cpp)
  if(NOT sources)
    return()
  endif()
  add_executable(test_${group} ${sources})
  target_link_libraries(test_${group} PRIVATE xsam_test_support ${libs} GTest::gtest GTest::gtest_main)
  gtest_discover_tests(test_${group} DISCOVERY_TIMEOUT 120
                       PROPERTIES ENVIRONMENT "XSAM_TEST_DATA=${CMAKE_SOURCE_DIR}/tests/data;XSAM_TOKENIZER_PLUGIN=$<TARGET_FILE:xsam_tokenizer>;OMP_WAIT_POLICY=PASSIVE")
endfunction()
