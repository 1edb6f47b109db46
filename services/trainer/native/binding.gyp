# Node-API addon over libtorch (DESIGN.md section 6, build facts in section 9).
# CPU builds link Debian's libtorch-dev (headers in /usr/include); CUDA builds set LIBTORCH_DIR to the
# libtorch inside a CUDA PyTorch install (its include/ and lib/) — scripts/build-native.sh passes it as
# the gyp variable `libtorch_dir` and `cuda=1`. Same sources either way.
{
  "variables": {
    "libtorch_dir%": "",
    # gyp turns -D values that look like integers into ints: compared as such below.
    "cuda%": 0,
    "cxx11_abi%": "1",
    # libtorch >= 2.13 needs C++20 (its ATen.h says so); scripts/build-native.sh reads it from there.
    "cxx_std%": "c++17",
    # CUDA builds with nvcc: the fused kernels' object (cuda/fused.cu, compiled by scripts/build-native.sh)
    # and the libcudart it links against; empty = no fused kernels.
    "cuda_kernel_object%": "",
    "cudart%": "",
  },
  "targets": [
    {
      "target_name": "spark_torch",
      "sources": [
        "addon.cc",
        "glue/tensor.cc",
        "glue/tensor_ops.cc",
        "glue/model.cc",
        "glue/optim.cc",
        "glue/system.cc",
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<(module_root_dir)",
      ],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "_GLIBCXX_USE_CXX11_ABI=<(cxx11_abi)"],
      # libtorch throws C++ exceptions and uses RTTI (dynamic_cast in autograd); node-gyp turns both off.
      "cflags!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=gnu++14"],
      # -ffp-contract=off: the hand-written fp32 loops round like libtorch's separate mul/add (parity tests).
      "cflags_cc": ["-std=<(cxx_std)", "-fexceptions", "-frtti", "-O2", "-ffp-contract=off", "-Wno-unused-parameter"],
      "conditions": [
        ["libtorch_dir==''", {
          "include_dirs": ["/usr/include/torch/csrc/api/include"],
          "libraries": ["-Wl,--no-as-needed", "-ltorch", "-ltorch_cpu", "-lc10", "-Wl,-z,now"],
        }, {
          "include_dirs": ["<(libtorch_dir)/include", "<(libtorch_dir)/include/torch/csrc/api/include"],
          "libraries": [
            "-L<(libtorch_dir)/lib", "-Wl,-rpath,<(libtorch_dir)/lib",
            "-Wl,--no-as-needed", "-ltorch", "-ltorch_cpu", "-lc10", "-Wl,-z,now",
          ],
        }],
        ["cuda==1", {
          "defines": ["SPARK_CUDA=1"],
          "libraries": ["-Wl,--no-as-needed", "-ltorch_cuda", "-lc10_cuda"],
        }],
        ["cuda_kernel_object!=''", {
          "defines": ["SPARK_CUDA_KERNELS=1"],
          "libraries": ["<(cuda_kernel_object)", "<(cudart)", "-Wl,-rpath,<!(dirname <(cudart))"],
        }],
      ],
    },
  ],
}
