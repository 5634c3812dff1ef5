# Installing xsam (cmake --install BUILD --prefix P) and the files a consumer needs to link it:
#
#   include/xsam/{xsam.h,xsam.hpp,xsam_version.h}
#   LIBDIR/libxsam.so.<XSAM_API_VERSION>...     the C API (SONAME carries the ABI generation)
#   LIBDIR/xsam/libxsam_tokenizer.so            the SentencePiece plugin, private, found beside libxsam
#   LIBDIR/xsam/tokenizer/                      Phi-3 tokenizer files for `xsam random-model`
#   LIBDIR/cmake/xsam/xsam{Config,ConfigVersion,Targets*}.cmake   find_package(xsam) → xsam::xsam
#   LIBDIR/pkgconfig/xsam.pc
#   bin/xsam                                    the command line (its web page is built into it)
#   share/xsam/web/                             the web page's files, for serving them elsewhere
#
# Components (one Debian package each, cmake/XsamPackage.cmake): runtime, dev, cli.
# Included from the top CMakeLists.txt once the xsam, xsam_tokenizer and xsam_cli targets exist.
# Nothing installed holds a path of the build or source tree: the library finds its plugin and tokenizer
# files relative to itself (dladdr), the CMake package and xsam.pc relative to themselves.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# Installed binaries find libxsam relative to themselves, and dependencies outside the system's
# directories (e.g. an official libtorch given through CMAKE_PREFIX_PATH) where they were linked from.
file(RELATIVE_PATH XSAM_BIN_TO_LIB ${CMAKE_INSTALL_FULL_BINDIR} ${CMAKE_INSTALL_FULL_LIBDIR})
set_target_properties(xsam PROPERTIES INSTALL_RPATH_USE_LINK_PATH ON)
set_target_properties(xsam_cli PROPERTIES INSTALL_RPATH "$ORIGIN/${XSAM_BIN_TO_LIB}" INSTALL_RPATH_USE_LINK_PATH ON)

install(TARGETS xsam EXPORT xsamTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime NAMELINK_COMPONENT dev
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS xsam_tokenizer LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}/xsam COMPONENT runtime)
install(DIRECTORY ${XSAM_TOKENIZER_DATA_DIR}/ DESTINATION ${CMAKE_INSTALL_LIBDIR}/xsam/tokenizer COMPONENT runtime)
install(FILES include/xsam/xsam.h include/xsam/xsam.hpp ${CMAKE_BINARY_DIR}/include/xsam/xsam_version.h
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/xsam COMPONENT dev)
install(TARGETS xsam_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT cli)
install(DIRECTORY web/ DESTINATION ${CMAKE_INSTALL_DATADIR}/xsam/web COMPONENT cli)

set(XSAM_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/xsam)
install(EXPORT xsamTargets NAMESPACE xsam:: DESTINATION ${XSAM_CMAKE_DIR} COMPONENT dev)
configure_package_config_file(cmake/xsamConfig.cmake.in ${CMAKE_BINARY_DIR}/xsamConfig.cmake
                              INSTALL_DESTINATION ${XSAM_CMAKE_DIR})
# Before 1.0 a new minor version may change the ABI (the SONAME says so), hence SameMinorVersion.
write_basic_package_version_file(${CMAKE_BINARY_DIR}/xsamConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/xsamConfig.cmake ${CMAKE_BINARY_DIR}/xsamConfigVersion.cmake
        DESTINATION ${XSAM_CMAKE_DIR} COMPONENT dev)

file(RELATIVE_PATH XSAM_PC_TO_PREFIX ${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig ${CMAKE_INSTALL_PREFIX})
string(REGEX REPLACE "/$" "" XSAM_PC_TO_PREFIX "${XSAM_PC_TO_PREFIX}")
configure_file(cmake/xsam.pc.in ${CMAKE_BINARY_DIR}/xsam.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/xsam.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT dev)

# Not in sanitizer builds: programs and python3 loading an ASan-built libxsam need the ASan runtime
# preloaded, and what is installed and packaged is the release build.
if(XSAM_BUILD_TESTS AND NOT XSAM_SANITIZE)
  # Installs into a temporary prefix, builds a C program (pkg-config) and a C++ one (find_package) outside
  # the tree against it, and runs both on a tiny random model written by the installed xsam.
  add_test(NAME install_consumer
           COMMAND ${CMAKE_SOURCE_DIR}/tests/install/install_consumer.sh ${CMAKE_BINARY_DIR} ${CMAKE_SOURCE_DIR}
                   ${PROJECT_VERSION} ${CMAKE_SOURCE_DIR}/tests/data/golden/aaai26-tiny/images/photo.png)
  # cpack -G DEB (cmake/XsamPackage.cmake): the three packages, their Depends, and the CLI run from them.
  add_test(NAME deb_packages
           COMMAND ${CMAKE_SOURCE_DIR}/tests/install/deb_packages.sh ${CMAKE_BINARY_DIR} ${PROJECT_VERSION}
                   ${CMAKE_SOURCE_DIR}/tests/data/golden/aaai26-tiny/images/photo.png)
  # pip install --no-build-isolation bindings/python in a venv; the package finds an installed libxsam.
  add_test(NAME pip_install
           COMMAND ${CMAKE_SOURCE_DIR}/tests/install/pip_install.sh ${CMAKE_BINARY_DIR} ${CMAKE_SOURCE_DIR}
                   ${PROJECT_VERSION} ${CMAKE_SOURCE_DIR}/tests/data/golden/aaai26-tiny/images/photo.png)
  set_tests_properties(install_consumer deb_packages pip_install PROPERTIES LABELS install TIMEOUT 600)
endif()
