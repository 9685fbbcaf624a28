# c10d's Gloo backend (native/distributed/gloo_transport.cc, ProcessGroup) compiles only against the
# gloo headers, which libtorch-dev does not ship (Debian: libgloo-dev, the same gloo that libtorch
# links). Found: TORCHREC_HAVE_GLOO. Not found: the addon still builds, and ProcessGroup.init fails
# with ERR_DISTRIBUTED naming libgloo-dev (as with -DTORCHREC_DISTRIBUTED=OFF). Only headers are
# needed: libtorch_cpu exports the symbols.
option(TORCHREC_DISTRIBUTED "build the c10d process group (needs the gloo headers)" ON)
if(TORCHREC_DISTRIBUTED)
  find_path(TORCHREC_GLOO_INCLUDE_DIR gloo/config.h HINTS ${TORCH_INCLUDE_DIRS})
endif()
if(TORCHREC_DISTRIBUTED AND TORCHREC_GLOO_INCLUDE_DIR)
  target_compile_definitions(torchrec_core PRIVATE TORCHREC_HAVE_GLOO)
  target_include_directories(torchrec_core PRIVATE "${TORCHREC_GLOO_INCLUDE_DIR}")
  message(STATUS "torchrec-node: distributed support with gloo from ${TORCHREC_GLOO_INCLUDE_DIR}")
elseif(NOT TORCHREC_DISTRIBUTED)
  message(STATUS "torchrec-node: built without distributed support (TORCHREC_DISTRIBUTED=OFF)")
else()
  message(WARNING "torchrec-node: the gloo headers (gloo/config.h) were not found, so the addon is built "
                  "without distributed support (ProcessGroup.init will fail). Install libgloo-dev "
                  "(apt-get install libgloo-dev) and rebuild to get it.")
endif()
