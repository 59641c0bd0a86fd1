# Read by cpack for each generator (CPACK_PROJECT_CONFIG_FILE, set in packaging/CMakeLists.txt).
if(CPACK_GENERATOR STREQUAL "DEB" AND CPACK_ZP_HAVE_CUDA)
  message(WARNING "ZeroPoint: this build compiles the CUDA kernels, so its programs link the CUDA "
                  "runtime of ${CPACK_ZP_CUDA_COMPILER}, which no Debian package provides: the "
                  ".deb lists no dependency for it and fails to start where that runtime is "
                  "absent. For a package for a plain Debian, build with -DZP_WITH_CUDA=OFF "
                  "(README \"Install\").")
endif()
