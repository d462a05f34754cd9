# `cpack` (or `cmake --build --preset release --target package`) builds a
# Debian package of meshsim: the binary, the model SDK with its CMake
# package, the scenarios, and an empty plugin directory, under /usr. Its
# library dependencies come from dpkg-shlibdeps, so the package installs
# with `apt-get install ./meshsim_*.deb` on Debian bookworm.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME meshsim)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "distributed discrete-event simulation service")
set(CPACK_PACKAGE_DESCRIPTION
    "meshsim runs discrete-event simulations over many processes and hosts: a coordinator, nodes that\n\
exchange events over shared memory or ZeroMQ, Prometheus metrics. Includes the model SDK\n\
(/usr/include/meshsim, find_package(meshsim)) for building model plugins.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "meshsim maintainers <meshsim@localhost>")
set(CPACK_DEBIAN_PACKAGE_SECTION science)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# Building a plugin against the SDK needs a compiler and these headers.
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "cmake, g++, libabsl-dev, libfmt-dev")
include(CPack)
