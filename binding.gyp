{
  # node-gyp build of the same sources as CMakeLists.txt (cmake-js is the primary build). libtorch is
  # found by scripts/find-libtorch.js (scripts/libtorch-locate.js) in the same order: LIBTORCH, Torch_DIR,
  # python3's torch, system. CUDA kernels (.cu) are built by the CMake build only. Node's headers:
  # `npx node-gyp rebuild --nodedir=/usr` where they are in /usr/include/node (Debian's nodejs), otherwise
  # node-gyp downloads them.
  "targets": [
    {
      "target_name": "torchrec_node",
      "sources": [
        "<!@(node -e \"const g=require('fs').readdirSync;for(const d of ['native/core','native/kernels','native/distributed','native/binding'])for(const f of g(d))if(f.endsWith('.cc'))console.log(d+'/'+f)\")",
        "native/addon.cc"
      ],
      "include_dirs": [
        "native",
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!@(node scripts/find-libtorch.js include)"
      ],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "<!@(node scripts/find-libtorch.js defines)"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-frtti", "-O3", "-Wno-unused-parameter"],
      "libraries": [
        "-L<!(node scripts/find-libtorch.js libdir)",
        "<!@(node scripts/find-libtorch.js libs)",
        "-Wl,-rpath,'$$ORIGIN'",
        "-Wl,-rpath,<!(node scripts/find-libtorch.js libdir)"
      ]
    }
  ]
}
