#!/usr/bin/env bash
# Compile check of the CUDA path, for machines without a GPU: every native/kernels/*.cu is compiled
# with nvcc for sm_80 and sm_90 (object files only, into a temporary directory), with all nvcc and
# host-compiler warnings as errors; then, where this machine's libtorch headers include c10/cuda,
# native/core/cuda_table_store.cc, native/core/table_store.cc and the GPU self-test are compiled with TORCHREC_WITH_CUDA=1. It proves
# the code compiles; it runs nothing.
# Skips (exit 0) with a message when nvcc is absent. NVCC=/path/to/nvcc overrides the compiler.
set -euo pipefail
cd "$(dirname "$0")/.."

nvcc="${NVCC:-}"
if [[ -z "$nvcc" ]]; then
  if command -v nvcc >/dev/null 2>&1; then
    nvcc="$(command -v nvcc)"
  elif [[ -x /usr/local/cuda/bin/nvcc ]]; then
    nvcc=/usr/local/cuda/bin/nvcc
  fi
fi
if [[ -z "$nvcc" || ! -x "$nvcc" ]]; then
  echo "check-cuda-compile: SKIPPED: nvcc not found (not on PATH, not /usr/local/cuda/bin/nvcc; set NVCC=...)."
  echo "check-cuda-compile: the CUDA kernels (native/kernels/*.cu) were NOT compile-checked."
  exit 0
fi

shopt -s nullglob
sources=(native/kernels/*.cu)
if [[ ${#sources[@]} -eq 0 ]]; then
  echo "check-cuda-compile: no native/kernels/*.cu to check" >&2
  exit 1
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

version="$("$nvcc" --version | tail -n 1)"
echo "check-cuda-compile: $nvcc ($version)"
flags=(-std=c++17 -O3 -Inative -Werror all-warnings -Xcompiler=-Wall,-Wextra,-Werror)
# One nvcc run per file builds both targets (the host pass is shared): sm_80 (A100) and sm_90 (H100).
archs=(-gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90)
for src in "${sources[@]}"; do
  obj="$tmp/$(basename "$src" .cu).o"
  if ! "$nvcc" "${flags[@]}" "${archs[@]}" -c "$src" -o "$obj"; then
    echo "check-cuda-compile: FAILED: $src" >&2
    exit 1
  fi
  echo "check-cuda-compile: ok   $src  sm_80 + sm_90  ($(wc -c <"$obj") bytes of object code)"
done
echo "check-cuda-compile: ${#sources[@]} file(s) compiled for sm_80 and sm_90 with warnings as errors."

# Host side of the CUDA path: the files compiled only when TORCHREC_WITH_CUDA=1, compiled (not linked)
# against this machine's libtorch headers, which is enough when they include c10/cuda (Debian's
# CPU-only libtorch-dev ships them, minus one generated header supplied here).
cuda_inc=""
for dir in "${CUDA_HOME:-}" "${CUDA_PATH:-}" "$(dirname "$(readlink -f "$nvcc")")/.." /usr/local/cuda; do
  if [[ -n "$dir" && -f "$dir/include/cuda_runtime_api.h" ]]; then
    cuda_inc="$dir/include"
    break
  fi
done
torch_inc=""
if [[ -f /usr/include/c10/cuda/CUDAStream.h ]]; then
  torch_inc=/usr/include
elif py_inc="$(python3 -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "include"))' 2>/dev/null)" &&
  [[ -f "$py_inc/c10/cuda/CUDAStream.h" ]]; then
  torch_inc="$py_inc"
fi
cxx="${CXX:-c++}"
host_sources=(native/core/cuda_table_store.cc native/core/table_store.cc test/cuda/native/cuda_selftest.cc)
if [[ -z "$torch_inc" || -z "$cuda_inc" ]] || ! command -v "$cxx" >/dev/null 2>&1; then
  echo "check-cuda-compile: host side SKIPPED: needs libtorch headers with c10/cuda, the CUDA headers and $cxx"
else
  mkdir -p "$tmp/shim/c10/cuda/impl"
  if [[ ! -f "$torch_inc/c10/cuda/impl/cuda_cmake_macros.h" ]]; then
    printf '#pragma once\n#define C10_CUDA_BUILD_SHARED_LIBS\n' >"$tmp/shim/c10/cuda/impl/cuda_cmake_macros.h"
  fi
  incs=(-isystem "$tmp/shim")
  # /usr/include is a system directory already; naming it again would break #include_next.
  [[ "$torch_inc" == /usr/include ]] || incs+=(-isystem "$torch_inc")
  incs+=(-isystem "$torch_inc/torch/csrc/api/include" -isystem "$cuda_inc")
  for src in "${host_sources[@]}"; do
    if ! "$cxx" -std=c++17 -fsyntax-only -Wall -Wextra -Wno-unused-parameter -Werror -DTORCHREC_WITH_CUDA=1 -Inative \
      "${incs[@]}" -D_GLIBCXX_USE_CXX11_ABI=1 "$src"; then
      echo "check-cuda-compile: FAILED: $src (host, TORCHREC_WITH_CUDA=1, headers of $torch_inc)" >&2
      exit 1
    fi
    echo "check-cuda-compile: ok   $src  (host $cxx, TORCHREC_WITH_CUDA=1, libtorch headers $torch_inc)"
  done
fi
echo "check-cuda-compile: compile-only: nothing was run on a GPU (scripts/gpu-check.sh does that)."
