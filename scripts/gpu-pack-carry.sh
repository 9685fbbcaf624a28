#!/usr/bin/env bash
# Prepares .gpu-carry/ (git-ignored) for scripts/gpu-check.sh on a GPU machine that has PyTorch but no
# Node and no network. Run here, where Node and node_modules exist:
#   .gpu-carry/node.xz                 this machine's `node` binary, xz-compressed
#   .gpu-carry/node_modules.tar.xz     node_modules, cut to what building and testing need (no linters)
#   .gpu-carry/node-headers.tar.xz     Node's C headers (only used if cmake-js is not in Node-API mode)
#   .gpu-carry/MANIFEST                versions and sizes
# Then carry .gpu-carry with the working tree (e.g. the device tool's `carry: [".gpu-carry"]`) and run
# `bash scripts/gpu-check.sh` there.
set -euo pipefail
cd "$(dirname "$0")/.."

die() {
  echo "gpu-pack-carry: $*" >&2
  exit 1
}

carry=.gpu-carry
command -v node >/dev/null || die "node is not on PATH"
command -v xz >/dev/null || die "xz is not installed"
[[ -d node_modules ]] || die "node_modules is missing: run npm install (or npm ci) first"
[[ "$(uname -m)" == x86_64 ]] || die "this machine is $(uname -m); the GPU machines are x86-64, so this node binary would not run there"

node_bin="$(readlink -f "$(command -v node)")"
if ldd "$node_bin" 2>/dev/null | grep -E 'libnode|libuv|libssl|libcrypto|libicu|not found' >/dev/null; then
  die "$node_bin links shared libnode/libuv/openssl/icu ($(ldd "$node_bin" | grep -E -o 'lib(node|uv|ssl|crypto|icu)[^ ]*' | sort -u | tr '\n' ' ')); it would not run on the GPU machine. Use a self-contained build (nodejs.org / NodeSource) as PATH's node."
fi

mkdir -p "$carry"
rm -f "$carry"/node.xz "$carry"/node_modules.tar.xz "$carry"/node-headers.tar.xz "$carry"/MANIFEST

echo "gpu-pack-carry: node $(node --version) from $node_bin"
xz -T0 -6 -c "$node_bin" >"$carry/node.xz"

# node_modules: the dependency closure of what the build and the test suite use, resolved the way
# Node resolves (nested node_modules first, then each parent's). Linters and formatters stay behind.
list="$(mktemp)"
trap 'rm -f "$list"' EXIT
node - "$list" <<'EOF'
const fs = require('fs');
const path = require('path');
const root = process.cwd();
const pkg = JSON.parse(fs.readFileSync('package.json', 'utf8'));
const lintOnly = new Set(['eslint', 'prettier', 'typescript-eslint', '@eslint/js', 'eslint-config-prettier']);
const roots = [...Object.keys(pkg.dependencies || {}), ...Object.keys(pkg.devDependencies || {})].filter((n) => !lintOnly.has(n));
const picked = new Set();
function resolve(name, fromDir) {
  for (let dir = fromDir; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'node_modules', name);
    if (fs.existsSync(path.join(candidate, 'package.json'))) return candidate;
    if (dir === root || dir === path.dirname(dir)) return null;
  }
}
const queue = roots.map((n) => [n, root, true]);
while (queue.length) {
  const [name, from, required] = queue.shift();
  const dir = resolve(name, from);
  if (!dir) {
    if (required) throw new Error(`${name} (needed from ${path.relative(root, from) || '.'}) is not installed`);
    continue;
  }
  if (picked.has(dir)) continue;
  picked.add(dir);
  const p = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
  for (const n of Object.keys(p.dependencies || {})) queue.push([n, dir, true]);
  for (const n of Object.keys(p.optionalDependencies || {})) queue.push([n, dir, false]);
  for (const n of Object.keys(p.peerDependencies || {})) queue.push([n, dir, false]);
}
const rel = [...picked].map((d) => path.relative(root, d)).sort();
// A package nested inside another picked one is already in that one's tree.
const top = rel.filter((d) => !rel.some((o) => o !== d && d.startsWith(o + path.sep)));
if (fs.existsSync('node_modules/.bin')) top.push('node_modules/.bin');
fs.writeFileSync(process.argv[2], top.join('\n') + '\n');
console.log(`gpu-pack-carry: node_modules: ${picked.size} packages from ${roots.length} roots (${roots.join(', ')})`);
EOF
tar -cf - -T "$list" | xz -T0 -6 >"$carry/node_modules.tar.xz"

headers=(/usr/include/node/*.h)
if [[ -e "${headers[0]}" ]]; then
  tar -C /usr/include -cf - $(cd /usr/include && ls node/*.h) | xz -T0 -6 >"$carry/node-headers.tar.xz"
fi

{
  echo "packed $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -srm)"
  echo "node $(node --version) ($node_bin)"
  echo "cmake-js $(node -p "require('cmake-js/package.json').version")"
  echo "jest $(node -p "require('jest/package.json').version")"
  echo "typescript $(node -p "require('typescript/package.json').version")"
  (cd "$carry" && ls -l --block-size=K node.xz node_modules.tar.xz node-headers.tar.xz 2>/dev/null)
} >"$carry/MANIFEST"
cat "$carry/MANIFEST"

total=$(du -cb "$carry" | tail -n 1 | cut -f1)
echo "gpu-pack-carry: $carry holds $((total / 1024 / 1024)) MiB"
if ((total > 56 * 1024 * 1024)); then
  echo "gpu-pack-carry: WARNING: over 56 MiB; with the working tree it may pass a 64 MiB transfer limit" >&2
fi
