# Fuzzing. Included from the top CMakeLists.txt before any target is defined.
#
#   * Always: one corpus-replay executable per target (tests/fuzz/fuzz_<target>.cpp + replay_main.cpp),
#     built with the normal compiler; CTest replays the committed corpus tests/fuzz/corpus/<target>/.
#   * With -DXSAM_FUZZ=ON and clang: libFuzzer executables fuzz_<target> (bin/), everything built with
#     -fsanitize=fuzzer-no-link,address,undefined. tools/fuzz.sh TARGET SECONDS configures and runs one.
option(XSAM_FUZZ "Build the libFuzzer targets (clang only; implies ASan + UBSan)" OFF)

# target → the layers it links ("xsam" = the public shared library only).
set(XSAM_FUZZ_TARGETS safetensors_header config image refs c_api)
set(XSAM_FUZZ_LIBS_safetensors_header xsam_io)
set(XSAM_FUZZ_LIBS_config xsam_core)
set(XSAM_FUZZ_LIBS_image xsam_image)
set(XSAM_FUZZ_LIBS_refs xsam_image)
set(XSAM_FUZZ_LIBS_c_api xsam)

if(XSAM_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "XSAM_FUZZ needs clang (configure with CC=clang CXX=clang++; see tools/fuzz.sh)")
  endif()
  # The sanitizers come from the XSAM_SANITIZE block (which also keeps the tokenizer plugin, loaded into
  # its own dlmopen namespace, free of them); coverage instrumentation for libFuzzer on top.
  set(XSAM_SANITIZE ON)
  add_compile_options(-fsanitize=fuzzer-no-link -fno-sanitize-recover=undefined)
endif()

function(xsam_fuzz_define_targets)
  if(NOT XSAM_BUILD_TESTS)
    return()
  endif()
  foreach(t ${XSAM_FUZZ_TARGETS})
    set(src ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_${t}.cpp)
    set(libs ${XSAM_FUZZ_LIBS_${t}})
    # Corpus replay (normal compiler, or the fuzz build's instrumented one).
    add_executable(fuzz_replay_${t} ${src} ${CMAKE_SOURCE_DIR}/tests/fuzz/replay_main.cpp)
    target_include_directories(fuzz_replay_${t} PRIVATE ${CMAKE_SOURCE_DIR}/src ${CMAKE_SOURCE_DIR}/include
                               ${CMAKE_SOURCE_DIR}/tests/fuzz)
    target_link_libraries(fuzz_replay_${t} PRIVATE ${libs})
    target_compile_definitions(fuzz_replay_${t} PRIVATE XSAM_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
    add_test(NAME fuzz_replay_${t} COMMAND fuzz_replay_${t} ${CMAKE_SOURCE_DIR}/tests/fuzz/corpus/${t})
    set_tests_properties(fuzz_replay_${t} PROPERTIES LABELS fuzz TIMEOUT 600
      ENVIRONMENT "XSAM_TOKENIZER_PLUGIN=$<TARGET_FILE:xsam_tokenizer>;OMP_WAIT_POLICY=PASSIVE")
    if(t STREQUAL "c_api")
      add_dependencies(fuzz_replay_${t} xsam_tokenizer)
    endif()
    if(XSAM_FUZZ)
      add_executable(fuzz_${t} ${src})
      target_include_directories(fuzz_${t} PRIVATE ${CMAKE_SOURCE_DIR}/src ${CMAKE_SOURCE_DIR}/include
                                 ${CMAKE_SOURCE_DIR}/tests/fuzz)
      target_link_libraries(fuzz_${t} PRIVATE ${libs})
      target_link_options(fuzz_${t} PRIVATE -fsanitize=fuzzer)
      if(t STREQUAL "c_api")
        add_dependencies(fuzz_${t} xsam_tokenizer)
      endif()
    endif()
  endforeach()
endfunction()

# Defined once every layer target exists (end of the top-level CMakeLists.txt).
cmake_language(DEFER DIRECTORY ${CMAKE_SOURCE_DIR} CALL xsam_fuzz_define_targets)
