# CUDA path of the addon, included at the end of CMakeLists.txt (after torchrec_core and the addon
# target exist). When the libtorch that FindLibtorchForAddon found was built with CUDA, the kernels in
# native/kernels/*.cu are compiled (nvcc, CUDA language) and linked into the addon, the CUDA runtime is
# linked, and TORCHREC_WITH_CUDA=1 is defined for the core and the binding (native/core/cuda_table_store.cc
# then compiles). Otherwise nothing CUDA is touched (no enable_language(CUDA), no nvcc needed) and
# TORCHREC_WITH_CUDA=0: `device: 'cuda'` is then ERR_DEVICE.
#
#   TORCHREC_CUDA        AUTO (default): CUDA iff libtorch has it; ON: fail unless it has; OFF: CPU only
#   TORCHREC_CUDA_ARCHS  GPU architectures, "sm_80;sm_90" by default (A100, H100); "80;90" works too
#
# Also readable as environment variables of the same names (scripts/gpu-check.sh sets TORCHREC_CUDA=ON).

# An environment variable only seeds a cache entry that does not exist yet; -D always wins.
set(_trc_default_mode AUTO)
if(DEFINED ENV{TORCHREC_CUDA} AND NOT "$ENV{TORCHREC_CUDA}" STREQUAL "")
  set(_trc_default_mode "$ENV{TORCHREC_CUDA}")
endif()
set(TORCHREC_CUDA "${_trc_default_mode}" CACHE STRING "AUTO | ON | OFF: build the CUDA kernels")
string(TOUPPER "${TORCHREC_CUDA}" _trc_mode)
if(NOT _trc_mode MATCHES "^(AUTO|ON|OFF)$")
  message(FATAL_ERROR "torchrec-node: TORCHREC_CUDA must be AUTO, ON or OFF, not \"${TORCHREC_CUDA}\"")
endif()

set(_trc_default_archs "sm_80;sm_90")
if(DEFINED ENV{TORCHREC_CUDA_ARCHS} AND NOT "$ENV{TORCHREC_CUDA_ARCHS}" STREQUAL "")
  set(_trc_default_archs "$ENV{TORCHREC_CUDA_ARCHS}")
endif()
set(TORCHREC_CUDA_ARCHS "${_trc_default_archs}" CACHE STRING "CUDA architectures for native/kernels/*.cu")

# Does the libtorch we found have CUDA? Its TorchConfig.cmake sets TORCH_CUDA_LIBRARIES (1.13 and 2.x)
# and Caffe2Targets.cmake defines c10_cuda / torch_cuda when it was built with USE_CUDA.
set(_trc_torch_cuda OFF)
if(TORCH_CUDA_LIBRARIES OR TARGET c10_cuda OR TARGET torch_cuda)
  set(_trc_torch_cuda ON)
endif()

if(_trc_mode STREQUAL "OFF")
  set(_trc_use_cuda OFF)
  set(_trc_why "TORCHREC_CUDA=OFF")
elseif(_trc_torch_cuda)
  set(_trc_use_cuda ON)
elseif(_trc_mode STREQUAL "ON")
  message(FATAL_ERROR
    "torchrec-node: TORCHREC_CUDA=ON but the libtorch found (${TORCHREC_TORCH_SOURCE}, version ${Torch_VERSION}) "
    "has no CUDA (no TORCH_CUDA_LIBRARIES, no c10_cuda target). Point LIBTORCH at a CUDA LibTorch, or install a "
    "CUDA build of PyTorch for python3, and make sure the CUDA toolkit (nvcc) is installed.")
else()
  set(_trc_use_cuda OFF)
  set(_trc_why "libtorch ${Torch_VERSION} from ${TORCHREC_TORCH_SOURCE} has no CUDA")
endif()

set(TORCHREC_WITH_CUDA ${_trc_use_cuda})

if(NOT _trc_use_cuda)
  target_compile_definitions(torchrec_core PUBLIC TORCHREC_WITH_CUDA=0)
  message(STATUS "torchrec-node: CUDA kernels not built (${_trc_why}); device 'cuda' will be ERR_DEVICE")
  return()
endif()

# ---- CUDA build ------------------------------------------------------------------------------

include(CheckLanguage)
# The CUDA compiler: -DCMAKE_CUDA_COMPILER, else CUDACXX, else the nvcc of the toolkit that a CUDA
# libtorch already found (find_package(CUDAToolkit) / FindCUDA), else CMake's own search.
if(NOT CMAKE_CUDA_COMPILER)
  if(DEFINED ENV{CUDACXX} AND EXISTS "$ENV{CUDACXX}")
    set(CMAKE_CUDA_COMPILER "$ENV{CUDACXX}")
  elseif(CUDAToolkit_NVCC_EXECUTABLE AND EXISTS "${CUDAToolkit_NVCC_EXECUTABLE}")
    set(CMAKE_CUDA_COMPILER "${CUDAToolkit_NVCC_EXECUTABLE}")
  elseif(CUDA_NVCC_EXECUTABLE AND EXISTS "${CUDA_NVCC_EXECUTABLE}")
    set(CMAKE_CUDA_COMPILER "${CUDA_NVCC_EXECUTABLE}")
  else()
    check_language(CUDA)
  endif()
endif()
if(NOT CMAKE_CUDA_COMPILER)
  set(_trc_no_nvcc
    "torchrec-node: libtorch (${TORCHREC_TORCH_SOURCE}) has CUDA, but no CUDA compiler was found to build "
    "native/kernels/*.cu. Install the CUDA toolkit (nvcc) matching libtorch's CUDA, put nvcc on PATH or set "
    "CUDACXX=/path/to/nvcc")
  if(_trc_mode STREQUAL "ON")
    message(FATAL_ERROR ${_trc_no_nvcc} ".")
  endif()
  message(WARNING ${_trc_no_nvcc} "; building WITHOUT the CUDA path (device 'cuda' will be ERR_DEVICE).")
  target_compile_definitions(torchrec_core PUBLIC TORCHREC_WITH_CUDA=0)
  set(TORCHREC_WITH_CUDA OFF)
  return()
endif()

# Architectures: accept "sm_90", "90", "90-real"; CMake wants the bare numbers.
set(_trc_archs "")
foreach(_arch IN LISTS TORCHREC_CUDA_ARCHS)
  string(REGEX REPLACE "^(sm_|compute_)" "" _arch "${_arch}")
  if(NOT _arch MATCHES "^[0-9]+[a-z]?(-real|-virtual)?$")
    message(FATAL_ERROR "torchrec-node: TORCHREC_CUDA_ARCHS entry \"${_arch}\" is not an architecture like sm_90")
  endif()
  list(APPEND _trc_archs "${_arch}")
endforeach()
if(NOT _trc_archs)
  message(FATAL_ERROR "torchrec-node: TORCHREC_CUDA_ARCHS is empty")
endif()
# Some libtorch versions set CMAKE_CUDA_ARCHITECTURES OFF in our scope; enable_language must not
# choke on an empty or odd value, and our target names its own list below anyway.
if(NOT CMAKE_CUDA_ARCHITECTURES)
  set(CMAKE_CUDA_ARCHITECTURES ${_trc_archs})
endif()
set(CMAKE_CUDA_RUNTIME_LIBRARY Shared)
enable_language(CUDA)
find_package(CUDAToolkit REQUIRED)

file(GLOB TORCHREC_CUDA_SOURCES CONFIGURE_DEPENDS "${CMAKE_CURRENT_SOURCE_DIR}/native/kernels/*.cu")
# The kernels use the CUDA runtime and CUB only (no libtorch headers), through the plain header
# native/kernels/cuda_kernels.h; so they need none of torch's compile flags.
add_library(torchrec_cuda_kernels OBJECT ${TORCHREC_CUDA_SOURCES})
target_include_directories(torchrec_cuda_kernels PRIVATE "${CMAKE_CURRENT_SOURCE_DIR}/native")
set_target_properties(torchrec_cuda_kernels PROPERTIES
  CUDA_ARCHITECTURES "${_trc_archs}"
  CUDA_STANDARD 17
  CUDA_STANDARD_REQUIRED ON
  CUDA_RUNTIME_LIBRARY Shared
  POSITION_INDEPENDENT_CODE ON)
target_compile_options(torchrec_cuda_kernels PRIVATE "$<$<COMPILE_LANGUAGE:CUDA>:-O3;-lineinfo;-Xcompiler=-Wall>")

target_compile_definitions(torchrec_core PUBLIC TORCHREC_WITH_CUDA=1)
target_link_libraries(torchrec_core PUBLIC CUDA::cudart)
target_link_libraries(${PROJECT_NAME} PRIVATE torchrec_cuda_kernels CUDA::cudart)

# Run-time search path: the addon needs libcudart (and torch's CUDA libraries) without LD_LIBRARY_PATH.
get_target_property(_trc_rpath ${PROJECT_NAME} BUILD_RPATH)
if(NOT _trc_rpath)
  set(_trc_rpath "")
endif()
set(_trc_cuda_dirs "")
if(CUDAToolkit_LIBRARY_DIR)
  list(APPEND _trc_cuda_dirs "${CUDAToolkit_LIBRARY_DIR}")
endif()
foreach(_lib IN LISTS TORCH_CUDA_LIBRARIES)
  if(IS_ABSOLUTE "${_lib}" AND EXISTS "${_lib}")
    get_filename_component(_dir "${_lib}" DIRECTORY)
    list(APPEND _trc_cuda_dirs "${_dir}")
  endif()
endforeach()
list(APPEND _trc_rpath ${_trc_cuda_dirs})
list(REMOVE_DUPLICATES _trc_rpath)
set_target_properties(${PROJECT_NAME} PROPERTIES BUILD_RPATH "${_trc_rpath}" INSTALL_RPATH "${_trc_rpath}")

# The GPU self-test (no Node): a CUDA collection against the CPU one, and a kernel timing.
# scripts/gpu-check.sh builds it with -DTORCHREC_BUILD_CUDA_SELFTEST=ON and runs it.
option(TORCHREC_BUILD_CUDA_SELFTEST "also build test/cuda/native/cuda_selftest (needs a CUDA build)" OFF)
if(TORCHREC_BUILD_CUDA_SELFTEST)
  add_executable(torchrec_cuda_selftest "${CMAKE_CURRENT_SOURCE_DIR}/test/cuda/native/cuda_selftest.cc")
  target_link_libraries(torchrec_cuda_selftest PRIVATE torchrec_core torchrec_cuda_kernels CUDA::cudart ${TORCH_LIBRARIES})
  target_compile_options(torchrec_cuda_selftest PRIVATE -O2 -Wall -Wno-unused-parameter)
  set_target_properties(torchrec_cuda_selftest PROPERTIES
    RUNTIME_OUTPUT_DIRECTORY "${CMAKE_BINARY_DIR}"
    BUILD_RPATH "${_trc_rpath}")
endif()

message(STATUS "torchrec-node: CUDA kernels ON (nvcc ${CMAKE_CUDA_COMPILER_VERSION}, archs ${_trc_archs}, "
               "CUDA ${CUDAToolkit_VERSION} at ${CUDAToolkit_LIBRARY_DIR})")
