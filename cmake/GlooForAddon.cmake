# c10d's Gloo backend (native/distributed/gloo_transport.cc, ProcessGroup) compiles only against the
# gloo headers, which libtorch-dev does not ship (Debian: libgloo-dev, the same gloo that libtorch
# links). Found: TORCHREC_HAVE_GLOO. Not found: the addon still builds, and ProcessGroup.init fails
# with ERR_DISTRIBUTED naming libgloo-dev. Only headers are needed: libtorch_cpu exports the symbols.
find_path(TORCHREC_GLOO_INCLUDE_DIR gloo/config.h HINTS ${TORCH_INCLUDE_DIRS})
if(TORCHREC_GLOO_INCLUDE_DIR)
  target_compile_definitions(torchrec_core PRIVATE TORCHREC_HAVE_GLOO)
  target_include_directories(torchrec_core PRIVATE "${TORCHREC_GLOO_INCLUDE_DIR}")
  message(STATUS "torchrec-node: distributed support with gloo from ${TORCHREC_GLOO_INCLUDE_DIR}")
else()
  message(WARNING "torchrec-node: the gloo headers (gloo/config.h) were not found, so the addon is built "
                  "without distributed support (ProcessGroup.init will fail). Install libgloo-dev "
                  "(apt-get install libgloo-dev) and rebuild to get it.")
endif()
