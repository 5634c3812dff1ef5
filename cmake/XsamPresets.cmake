# The built-in presets live in one data file, src/core/presets.json, read by the library and by
# tools/xsam-export. The library embeds it here at configure time (re-run when the file changes), so an
# installed libxsam needs no data file beside it.
set(XSAM_PRESETS_FILE ${CMAKE_SOURCE_DIR}/src/core/presets.json)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${XSAM_PRESETS_FILE})
file(READ ${XSAM_PRESETS_FILE} XSAM_PRESETS_JSON)
if(XSAM_PRESETS_JSON MATCHES "\\)xsampresets")
  message(FATAL_ERROR "${XSAM_PRESETS_FILE} contains the raw-string delimiter ')xsampresets'")
endif()
configure_file(${CMAKE_SOURCE_DIR}/cmake/presets_data.cpp.in ${CMAKE_BINARY_DIR}/generated/presets_data.cpp @ONLY)
target_sources(xsam_core PRIVATE ${CMAKE_BINARY_DIR}/generated/presets_data.cpp)
