#!/usr/bin/env bash
# Fails if any C++ source differs from .clang-format (CI runs this through `npm run lint`).
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files 'native/*.h' 'native/*.cc' 'native/*.cu' 'native/**/*.h' 'native/**/*.cc' 'native/**/*.cu' \
  'bench/native/*.h' 'bench/native/*.cc' 'test/native/*.h' 'test/native/*.cc' | sort -u)
if ((${#files[@]} == 0)); then exit 0; fi
clang-format --dry-run --Werror "${files[@]}"
echo "clang-format: ${#files[@]} files clean"
