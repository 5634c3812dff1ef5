# Debian packages (cd BUILD && cpack -G DEB), one per install component of cmake/XsamInstall.cmake:
#   libxsam<API>  (runtime)  libxsam.so.<API>, the tokenizer plugin and tokenizer files
#   libxsam-dev   (dev)      headers, libxsam.so, the CMake package and xsam.pc
#   xsam          (cli)      the xsam command and the web page's files
# Dependencies on other packages (libtorch, OpenCV, SentencePiece, ...) come from dpkg-shlibdeps reading
# the binaries; the dependencies between these three are exact-version ones.
set(CPACK_PACKAGE_NAME xsam)
set(CPACK_PACKAGE_VENDOR "xsam")
set(CPACK_PACKAGE_CONTACT "xsam maintainers <xsam@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "native inference for X-SAM (segment anything to any segmentation)")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_RESOURCE_FILE_LICENSE ${CMAKE_SOURCE_DIR}/LICENSE)
set(CPACK_GENERATOR DEB)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL runtime dev cli)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# The CLI links libxsam from the runtime package, which dpkg-shlibdeps cannot look up on this machine.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS_PRIVATE_DIRS ${CMAKE_BINARY_DIR}/lib)
set(CPACK_DEBIAN_ENABLE_COMPONENT_DEPENDS ON)
set(CPACK_DEBIAN_PACKAGE_SECTION science)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://github.com/wanghao9610/X-SAM")

set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME libxsam${XSAM_API_VERSION})
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION libs)
set(CPACK_COMPONENT_RUNTIME_DESCRIPTION "xsam library: the C API of native X-SAM inference on libtorch")
set(CPACK_DEBIAN_DEV_PACKAGE_NAME libxsam-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_COMPONENT_DEV_DESCRIPTION "xsam development files: xsam.h, xsam.hpp, CMake package xsam::xsam, xsam.pc")
set(CPACK_COMPONENT_DEV_DEPENDS runtime)
set(CPACK_DEBIAN_CLI_PACKAGE_NAME xsam)
set(CPACK_COMPONENT_CLI_DESCRIPTION "xsam command: segment, chat, serve (HTTP API and web page), bench, random-model")
set(CPACK_COMPONENT_CLI_DEPENDS runtime)
include(CPack)
