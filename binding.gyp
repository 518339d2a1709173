{
  "targets": [
    {
      "target_name": "i3d_native",
      "sources": [
        "native/addon.cc",
        "native/tensor.cc",
        "native/ops.cc",
        "native/autograd.cc",
        "native/runtime.cc",
        "native/flow.cc",
        "native/tvl1.cc",
        "native/plan.cc",
        "native/dist.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!@(node scripts/libtorch.mjs includes)",
        "<!@(node scripts/opencv.mjs includes)",
        "<!@(node scripts/onednn.mjs includes)"
      ],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "<!@(node scripts/libtorch.mjs defines)"],
      "cflags!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-frtti", "-O2", "-Wno-unused-parameter", "-Wno-deprecated-declarations"],
      "ldflags": ["<!@(node scripts/libtorch.mjs ldflags)", "<!@(node scripts/opencv.mjs ldflags)", "<!@(node scripts/onednn.mjs ldflags)"]
    }
  ]
}
