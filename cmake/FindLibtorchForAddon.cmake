# Locates libtorch in the order the design fixes, so a user who has PyTorch in any common form gets a
# build without configuration:
#   1. $LIBTORCH        an unpacked LibTorch distribution (the zip from pytorch.org)
#   2. Torch_DIR        a directory holding TorchConfig.cmake (CMake variable or environment)
#   3. python3's torch  torch.utils.cmake_prefix_path of a pip/conda-installed PyTorch
#   4. the system       Debian/Ubuntu's libtorch-dev
# On failure one message names all four, because the person reading it does not know which they have.

set(_torch_tried "")

if(DEFINED ENV{LIBTORCH} AND NOT "$ENV{LIBTORCH}" STREQUAL "")
  list(APPEND _torch_tried "LIBTORCH=$ENV{LIBTORCH}")
  find_package(Torch QUIET PATHS "$ENV{LIBTORCH}" "$ENV{LIBTORCH}/share/cmake/Torch" NO_DEFAULT_PATH)
  if(Torch_FOUND)
    set(TORCHREC_TORCH_SOURCE "LIBTORCH ($ENV{LIBTORCH})")
  endif()
endif()

if(NOT Torch_FOUND)
  if(NOT Torch_DIR AND DEFINED ENV{Torch_DIR})
    set(Torch_DIR "$ENV{Torch_DIR}")
  endif()
  if(Torch_DIR)
    list(APPEND _torch_tried "Torch_DIR=${Torch_DIR}")
    find_package(Torch QUIET PATHS "${Torch_DIR}" NO_DEFAULT_PATH)
    if(Torch_FOUND)
      set(TORCHREC_TORCH_SOURCE "Torch_DIR (${Torch_DIR})")
    endif()
  endif()
endif()

if(NOT Torch_FOUND)
  set(_torch_pythons "")
  if(DEFINED ENV{PYTHON} AND NOT "$ENV{PYTHON}" STREQUAL "")
    list(APPEND _torch_pythons "$ENV{PYTHON}")
  endif()
  list(APPEND _torch_pythons python3 /usr/bin/python3)
  foreach(_py IN LISTS _torch_pythons)
    execute_process(
      COMMAND ${_py} -c "import torch.utils; print(torch.utils.cmake_prefix_path)"
      OUTPUT_VARIABLE _py_prefix OUTPUT_STRIP_TRAILING_WHITESPACE
      ERROR_QUIET RESULT_VARIABLE _py_rc)
    if(_py_rc EQUAL 0 AND IS_DIRECTORY "${_py_prefix}")
      list(APPEND _torch_tried "python torch (${_py}: ${_py_prefix})")
      find_package(Torch QUIET PATHS "${_py_prefix}" "${_py_prefix}/Torch" NO_DEFAULT_PATH)
      if(Torch_FOUND)
        set(TORCHREC_TORCH_SOURCE "python torch (${_py_prefix})")
        break()
      endif()
    endif()
  endforeach()
endif()

if(NOT Torch_FOUND)
  list(APPEND _torch_tried "system (libtorch-dev)")
  find_package(Torch QUIET)
  if(Torch_FOUND)
    set(TORCHREC_TORCH_SOURCE "system (${Torch_DIR})")
  endif()
endif()

if(NOT Torch_FOUND)
  list(JOIN _torch_tried "; " _tried_text)
  message(FATAL_ERROR
    "torchrec-node: libtorch was not found. Provide it in one of these ways:\n"
    "  1. set LIBTORCH to an unpacked LibTorch distribution (https://pytorch.org, C++/LibTorch),\n"
    "  2. set Torch_DIR to the directory that holds TorchConfig.cmake,\n"
    "  3. install PyTorch for python3 (pip install torch) so torch.utils.cmake_prefix_path exists,\n"
    "  4. install the system package: sudo apt-get install libtorch-dev (Debian 12 / Ubuntu).\n"
    "Tried: ${_tried_text}")
endif()

message(STATUS "torchrec-node: libtorch ${Torch_VERSION} from ${TORCHREC_TORCH_SOURCE}")
