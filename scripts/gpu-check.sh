#!/usr/bin/env bash
# The GPU check, in one command, for a GPU machine with a CUDA PyTorch for `python3`, the CUDA toolkit
# (nvcc), CMake and a C++ compiler, but no Node and no network:
#
#   bash scripts/gpu-check.sh            # everything below, in order
#
#   1. preflight  GPU, python3's torch (CUDA must be available), nvcc, cmake, c++
#   2. node       .gpu-carry/node.xz -> .gpu-carry/bin/node (a node already on PATH is used if there is none)
#   3. modules    .gpu-carry/node_modules.tar.xz -> node_modules (skipped when already unpacked from it)
#   4. build      cmake-js into build-gpu/ against python3's libtorch, TORCHREC_CUDA=ON (a build without
#                 the CUDA path fails here), plus the native self-test; then the addon must say cuda: true
#   5. selftest   build-gpu/torchrec_cuda_selftest --bench: the CUDA store + kernels against the CPU core,
#                 every optimizer; kernel timings against at::embedding_bag and a device copy
#   6. jest       the whole jest suite with TORCHREC_TEST_CUDA=1 against build-gpu's addon (test/packaging
#                 needs npm and a registry; it is left out, saying so, when npm is absent)
#   7. bench      `npm run bench:gpu`'s command, if package.json has that script
#
# .gpu-carry comes from scripts/gpu-pack-carry.sh, run where Node is. Every step runs even after an
# earlier test step failed (a GPU session is scarce, so one run reports everything); steps that cannot
# run without an earlier one are marked so. Exit status 1 when any step failed, with a summary.
# Logs go to GPU_CHECK_LOG_DIR (default build-gpu/gpu-check-logs).
# Options (environment): GPU_CHECK_STEPS="build selftest" runs only those (preflight, node and modules
# always run); GPU_CHECK_CLEAN=1 starts from an empty build-gpu/; GPU_CHECK_SANITIZE=1 also runs the
# self-test under compute-sanitizer; TORCHREC_CUDA_ARCHS (default "sm_80;sm_90"); PYTHON (default python3);
# GPU_CHECK_JEST_ARGS extra jest arguments. A machine that stops commands after 10 minutes can run it
# in two calls: GPU_CHECK_STEPS="build selftest", then GPU_CHECK_STEPS="jest bench" (build-gpu is reused).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

CARRY="${GPU_CARRY:-$ROOT/.gpu-carry}"
BUILD="$ROOT/build-gpu"
LOGS="${GPU_CHECK_LOG_DIR:-$BUILD/gpu-check-logs}"
PYTHON="${PYTHON:-python3}"
STEPS="${GPU_CHECK_STEPS:-build selftest jest bench}"
JOBS="$(nproc 2>/dev/null || echo 8)"

declare -a SUMMARY=()
FAILED=0
say() { printf '\n=== gpu-check: %s ===\n' "$*"; }
fatal() {
  echo "gpu-check: FAILED: $*" >&2
  SUMMARY+=("FAIL   $*")
  summary
  exit 1
}
record() { # record <status> <step> <detail>
  SUMMARY+=("$(printf '%-6s %-9s %s' "$1" "$2" "$3")")
  [[ "$1" == FAIL ]] && FAILED=1
  return 0
}
summary() {
  echo
  echo "=== gpu-check summary ==="
  printf '%s\n' "${SUMMARY[@]}"
  echo "logs: $LOGS"
}
wanted() { [[ " $STEPS " == *" $1 "* ]]; }

mkdir -p "$LOGS" || fatal "cannot create the log directory $LOGS"

# ---- 1. preflight -------------------------------------------------------------------------------
say "preflight"
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi -L || true
else
  echo "nvidia-smi not found (continuing; torch decides whether a GPU is usable)"
fi
command -v "$PYTHON" >/dev/null 2>&1 || fatal "preflight: $PYTHON not found (set PYTHON=/path/to/python3 with a CUDA PyTorch)"
torch_info="$("$PYTHON" - <<'EOF'
import torch, torch.utils
ok = torch.cuda.is_available()
cap = torch.cuda.get_device_capability(0) if ok else (0, 0)
name = torch.cuda.get_device_name(0) if ok else "-"
print(torch.__version__, torch.version.cuda, int(ok), "%d.%d" % cap, torch.utils.cmake_prefix_path, name.replace(" ", "_"))
EOF
)" || fatal "preflight: '$PYTHON -c import torch' failed"
read -r torch_version torch_cuda cuda_ok capability torch_prefix gpu_name <<<"$torch_info"
echo "python3 torch $torch_version (CUDA $torch_cuda) at $torch_prefix; GPU: ${gpu_name//_/ } (sm ${capability})"
[[ "$torch_cuda" != None ]] || fatal "preflight: python3's torch $torch_version is a CPU-only build; a CUDA PyTorch is needed"
[[ "$cuda_ok" == 1 ]] || fatal "preflight: torch.cuda.is_available() is False (no GPU visible, or driver too old for CUDA $torch_cuda)"
[[ -d "$torch_prefix/Torch" ]] || fatal "preflight: $torch_prefix/Torch (TorchConfig.cmake) is missing"
export TORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-$capability}"  # keeps torch's cmake from probing the GPU

nvcc="${CUDACXX:-}"
[[ -n "$nvcc" ]] || nvcc="$(command -v nvcc || true)"
[[ -n "$nvcc" || ! -x /usr/local/cuda/bin/nvcc ]] || nvcc=/usr/local/cuda/bin/nvcc
[[ -n "$nvcc" && -x "$nvcc" ]] || fatal "preflight: nvcc not found (PATH, CUDACXX, /usr/local/cuda/bin): the CUDA toolkit is needed to build native/kernels/*.cu"
export CUDACXX="$nvcc"
echo "nvcc: $nvcc ($("$nvcc" --version | tail -n 1))"
command -v cmake >/dev/null 2>&1 || fatal "preflight: cmake not found"
echo "cmake: $(cmake --version | head -n 1)"
command -v c++ >/dev/null 2>&1 || command -v g++ >/dev/null 2>&1 || fatal "preflight: no C++ compiler (c++/g++)"
record ok preflight "torch $torch_version CUDA $torch_cuda, ${gpu_name//_/ } sm $capability, nvcc $("$nvcc" --version | grep -o 'release [0-9.]*')"

# ---- 2. node -------------------------------------------------------------------------------------
say "node"
if [[ -f "$CARRY/node.xz" ]]; then
  mkdir -p "$CARRY/bin"
  if [[ ! -x "$CARRY/bin/node" || "$CARRY/node.xz" -nt "$CARRY/bin/node" ]]; then
    xz -dc "$CARRY/node.xz" >"$CARRY/bin/node.tmp" && chmod +x "$CARRY/bin/node.tmp" && mv "$CARRY/bin/node.tmp" "$CARRY/bin/node" ||
      fatal "node: cannot unpack $CARRY/node.xz"
  fi
  export PATH="$CARRY/bin:$PATH"
elif ! command -v node >/dev/null 2>&1; then
  fatal "node: no $CARRY/node.xz and no node on PATH; run scripts/gpu-pack-carry.sh where Node is and carry .gpu-carry"
fi
node --version >/dev/null 2>&1 || fatal "node: $(command -v node) does not run here"
echo "node $(node --version) at $(command -v node)"
record ok node "$(node --version)"

# ---- 3. node_modules -----------------------------------------------------------------------------
say "node_modules"
stamp="$ROOT/node_modules/.gpu-carry-stamp"
if [[ -f "$CARRY/node_modules.tar.xz" ]]; then
  sum="$(cksum <"$CARRY/node_modules.tar.xz")"
  if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$sum" ]]; then
    rm -rf "$ROOT/node_modules"
    xz -dc "$CARRY/node_modules.tar.xz" | tar -C "$ROOT" -xf - || fatal "modules: cannot unpack $CARRY/node_modules.tar.xz"
    echo "$sum" >"$stamp"
    echo "unpacked $CARRY/node_modules.tar.xz"
  else
    echo "node_modules already unpacked from this tarball"
  fi
elif [[ ! -d "$ROOT/node_modules" ]]; then
  fatal "modules: no node_modules and no $CARRY/node_modules.tar.xz (run scripts/gpu-pack-carry.sh where Node is)"
fi
for m in cmake-js node-addon-api jest ts-jest typescript; do
  [[ -f "$ROOT/node_modules/$m/package.json" ]] || fatal "modules: node_modules/$m is missing"
done
if [[ -f "$CARRY/node-headers.tar.xz" && ! -f "$CARRY/node-headers/include/node/node.h" ]]; then
  mkdir -p "$CARRY/node-headers/include" && xz -dc "$CARRY/node-headers.tar.xz" | tar -C "$CARRY/node-headers/include" -xf -
fi
# cmake-js uses node-api-headers in Node-API mode (package.json binary.napi_versions); otherwise it
# would download Node's headers, so point it at the carried ones.
[[ -f "$CARRY/node-headers/include/node/node.h" ]] && export npm_config_nodedir="$CARRY/node-headers"
export PATH="$ROOT/node_modules/.bin:$PATH"
record ok modules "cmake-js $(node -p "require('cmake-js/package.json').version"), jest $(node -p "require('jest/package.json').version")"

ADDON="$BUILD/Release/torchrec_node.node"
SELFTEST="$BUILD/torchrec_cuda_selftest"

# ---- 4. build ------------------------------------------------------------------------------------
build_ok=0
if wanted build; then
  say "build (cmake-js, TORCHREC_CUDA=ON, -j$JOBS) -> $LOGS/build.log"
  [[ "${GPU_CHECK_CLEAN:-0}" == 1 ]] && rm -rf "$BUILD"
  if node node_modules/cmake-js/bin/cmake-js compile --directory "$ROOT" --out "$BUILD" --parallel "$JOBS" \
    --CDTorch_DIR="$torch_prefix/Torch" --CDTORCHREC_CUDA=ON --CDTORCHREC_BUILD_CUDA_SELFTEST=ON \
    --CDCMAKE_CUDA_COMPILER="$nvcc" 2>&1 | tee "$LOGS/build.log"; then
    grep -E "torchrec-node: (libtorch|CUDA)" "$LOGS/build.log" || true
    if [[ ! -f "$ADDON" ]]; then
      record FAIL build "cmake-js succeeded but $ADDON is missing"
    elif ! info="$(node -e 'const a = require(process.argv[1]); console.log(JSON.stringify(a.buildInfo)); process.exit(a.buildInfo.cuda === true ? 0 : 3)' "$ADDON" 2>&1)"; then
      echo "$info"
      record FAIL build "the addon loads but buildInfo.cuda is not true ($info): native/addon.cc must report TORCHREC_WITH_CUDA"
      build_ok=1 # the addon and the self-test exist; the later steps still say what works
    else
      echo "addon: $info"
      record ok build "$ADDON ($info)"
      build_ok=1
    fi
  else
    record FAIL build "cmake-js failed (see $LOGS/build.log)"
  fi
elif [[ -f "$ADDON" ]]; then
  build_ok=1
  echo "build step not requested; using the existing $ADDON"
fi

# ---- 5. selftest ---------------------------------------------------------------------------------
if wanted selftest; then
  say "selftest -> $LOGS/selftest.log"
  if [[ $build_ok != 1 || ! -x "$SELFTEST" ]]; then
    record FAIL selftest "not run: no $SELFTEST (the build step failed or was not run)"
  elif "$SELFTEST" --bench 2>&1 | tee "$LOGS/selftest.log"; then
    record ok selftest "$(grep -c '^ok ' "$LOGS/selftest.log") checks passed; timings: grep ^bench $LOGS/selftest.log"
  else
    record FAIL selftest "$(grep -c '^FAIL' "$LOGS/selftest.log") failed check(s) (see $LOGS/selftest.log)"
  fi
  if [[ "${GPU_CHECK_SANITIZE:-0}" == 1 && -x "$SELFTEST" ]]; then
    say "selftest under compute-sanitizer (memcheck) -> $LOGS/sanitizer.log"
    if compute-sanitizer --tool memcheck --error-exitcode 9 "$SELFTEST" >"$LOGS/sanitizer.log" 2>&1; then
      record ok sanitize "compute-sanitizer memcheck clean"
    else
      tail -n 40 "$LOGS/sanitizer.log"
      record FAIL sanitize "compute-sanitizer reported errors (see $LOGS/sanitizer.log)"
    fi
  fi
fi

# ---- 6. jest -------------------------------------------------------------------------------------
if wanted jest; then
  say "jest (TORCHREC_TEST_CUDA=1) -> $LOGS/jest.log"
  if [[ $build_ok != 1 ]]; then
    record FAIL jest "not run: no addon (the build step failed or was not run)"
  else
    jest_args=(--ci --json "--outputFile=$LOGS/jest.json")
    if ! command -v npm >/dev/null 2>&1; then
      jest_args+=(--testPathIgnorePatterns '/node_modules/' '<rootDir>/test/packaging/')
      echo "npm is absent here: test/packaging (npm install of the packed package) is left out"
    fi
    # shellcheck disable=SC2086
    if TORCHREC_NODE_ADDON="$ADDON" TORCHREC_TEST_CUDA=1 TORCHREC_TEST_PYTHON="$(command -v "$PYTHON")" \
      node node_modules/jest/bin/jest.js "${jest_args[@]}" ${GPU_CHECK_JEST_ARGS:-} 2>&1 | tee "$LOGS/jest.log"; then
      record ok jest "$(grep -E '^Tests:' "$LOGS/jest.log" | tail -n 1)"
    else
      record FAIL jest "$(grep -E '^Tests:' "$LOGS/jest.log" | tail -n 1) (see $LOGS/jest.log)"
    fi
    if ! command -v npm >/dev/null 2>&1; then record skip jest "test/packaging left out: npm is absent"; fi
  fi
fi

# ---- 7. bench ------------------------------------------------------------------------------------
if wanted bench; then
  bench_cmd="$(node -p "(require('./package.json').scripts || {})['bench:gpu'] || ''")"
  if [[ -z "$bench_cmd" ]]; then
    record skip bench "package.json has no bench:gpu script (kernel timings are in the selftest log)"
  elif [[ $build_ok != 1 ]]; then
    record FAIL bench "not run: no addon"
  else
    say "bench: $bench_cmd -> $LOGS/bench.log"
    if TORCHREC_NODE_ADDON="$ADDON" bash -c "$bench_cmd" 2>&1 | tee "$LOGS/bench.log"; then
      record ok bench "bench:gpu finished (see $LOGS/bench.log)"
    else
      record FAIL bench "bench:gpu failed (see $LOGS/bench.log)"
    fi
  fi
fi

summary
if [[ $FAILED == 1 ]]; then
  echo "gpu-check: FAILED" >&2
  exit 1
fi
echo "gpu-check: PASSED"
