#!/usr/bin/env bash
# One-command set-up of a fresh Debian 12 machine: system packages (libtorch from Debian's archive,
# the toolchain, Python's torch for the interop tests and the benchmark peer), then the npm install
# that compiles the addon. Downloads nothing from outside apt and the npm registry.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi

# libgloo-dev: the gloo headers c10d's ProcessGroupGloo needs (ProcessGroup, native/distributed).
# libgtest-dev: GoogleTest for the C++ tests of the core (test/native).
packages=(cmake ninja-build g++ libtorch-dev libgloo-dev libgtest-dev python3-torch clang-format git)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

# npm ci runs this package's install script (the cmake-js build) and prepare (the TypeScript build).
if [[ -f package-lock.json ]]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi
