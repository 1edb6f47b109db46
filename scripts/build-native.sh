#!/usr/bin/env bash
# Builds the libtorch addon services/trainer/native/build/Release/spark_torch.node — the one build for
# CPU and CUDA (DESIGN.md sections 6 and 9):
#   CPU (default):  links Debian's libtorch-dev (/usr/include/torch, /usr/lib/x86_64-linux-gnu).
#   CUDA:           LIBTORCH_DIR=<torch>/  (the folder holding include/ and lib/ of a CUDA PyTorch install,
#                   e.g. $(python3 -c 'import torch,os;print(os.path.dirname(torch.__file__))'));
#                   lib/libtorch_cuda.so there switches on -ltorch_cuda -lc10_cuda.
# Env: LIBTORCH_DIR, TORCH_CXX11_ABI (0|1; default: asked from python3's torch when LIBTORCH_DIR is set,
# else 1 as Debian builds it), NODE_GYP_NODEDIR (default /usr when Node's headers are there, as on Debian;
# node-gyp would otherwise try to download them), NATIVE_JOBS (parallel compiles, default 2),
# FORCE=1 (rebuild even when nothing changed).
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

nodedir=${NODE_GYP_NODEDIR:-}
if [ -z "$nodedir" ] && [ -e /usr/include/node/node_api.h ]; then nodedir=/usr; fi

stamp=$native/build/.spark-build-hash
hash=$( { cat "$native/binding.gyp"; find "$native" -path "$native/build" -prune -o \( -name '*.cc' -o -name '*.h' \) -print | sort | xargs cat;
          echo "$libtorch_dir $cuda $abi $nodedir"; node --version; } | sha256sum | cut -d' ' -f1)
if [ "${FORCE:-0}" != 1 ] && [ -e "$out" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$hash" ]; then
  say "up to date ($out)"
  exit 0
fi

# node-gyp: the copy bundled with npm (no extra dependency), else whatever npx finds.
npm_root=$(dirname "$(readlink -f "$(command -v npm)")")/..
gyp_js=$npm_root/node_modules/node-gyp/bin/node-gyp.js
if [ -e "$gyp_js" ]; then gyp=(node "$gyp_js"); else gyp=(npx --yes node-gyp); fi

say "building ($([ $cuda = 1 ] && echo "CUDA, $libtorch_dir" || echo "CPU${libtorch_dir:+, $libtorch_dir}"), cxx11 abi $abi)"
# configure only when the build settings change; `build` then recompiles just the changed sources (make
# tracks header dependencies) and keeps the previous .node in place until the new one links.
conf_stamp=$native/build/.spark-configure-hash
conf_hash=$( { cat "$native/binding.gyp"; echo "$libtorch_dir $cuda $abi $nodedir"; node --version; } | sha256sum | cut -d' ' -f1)
common=(--directory="$native")
[ -n "$nodedir" ] && common+=(--nodedir="$nodedir")
if [ ! -e "$native/build/Makefile" ] || [ "$(cat "$conf_stamp" 2>/dev/null)" != "$conf_hash" ]; then
  "${gyp[@]}" configure "${common[@]}" -- -Dlibtorch_dir="$libtorch_dir" -Dcuda="$cuda" -Dcxx11_abi="$abi" >&2
  echo "$conf_hash" > "$conf_stamp"
fi
"${gyp[@]}" build "${common[@]}" --jobs="${NATIVE_JOBS:-2}" >&2
echo "$hash" > "$stamp"
say "built $out"
