#!/usr/bin/env bash
# Runs on a lent GPU machine, from the repository root, after scripts/gpu/pack.sh here:
#   device tool: run(command="bash scripts/gpu/device.sh [scripts/bench/gpu.ts options]", carry=[".device"])
# 1. unpacks .device/node.tar.xz (Node, npm/node-gyp, node-addon-api, tokenizer files) into /tmp/spark-node;
# 2. builds the addon with scripts/build-native.sh — the trainer image's build — against the libtorch
#    inside python3's CUDA PyTorch: LIBTORCH_DIR from torch.utils.cmake_prefix_path, TORCH_CXX11_ABI from
#    torch.compiled_with_cxx11_abi();
# 3. runs the benchmark bundle .device/gpu.mjs (scripts/bench/gpu.ts).
# Writes into $OUT (the device tool's output folder; default /tmp/spark-gpu-out): env.txt, build.log,
# bench.log, gpu.jsonl. Where python3's torch has no C++ headers (Debian's, here) it builds for the CPU,
# which lets this script be tried on a development machine with --device cpu.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/spark-gpu-out}
mkdir -p "$OUT"
say() { printf '%s gpu/device: %s\n' "$(date +%T)" "$*"; }
started=$(date +%s)
elapsed() { echo "$(( $(date +%s) - started )) s"; }

{
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm,power.limit --format=csv 2>&1 || true
  python3 - <<'PY' 2>&1
import os, platform, torch, torch.utils
print("python", platform.python_version(), "torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())
print("cmake_prefix_path", torch.utils.cmake_prefix_path, "cxx11_abi", torch.compiled_with_cxx11_abi())
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    print("device", p.name, p.total_memory >> 20, "MiB", p.multi_processor_count, "SMs")
    # The ceiling MFU is read against: a large bf16 GEMM on random data (METHOD.md), median of 10.
    a, b = (torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16) for _ in range(2))
    for _ in range(3): a @ b
    ev = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(10)]
    for s, e in ev:
        s.record(); a @ b; e.record()
    torch.cuda.synchronize()
    ms = sorted(s.elapsed_time(e) for s, e in ev)[5]
    print("bf16 gemm 8192^3: %.0f TFLOP/s" % (2 * 8192 ** 3 / ms / 1e9))
PY
  g++ --version 2>&1 | head -1
  command -v make || echo "no make"
  nproc
} > "$OUT/env.txt"
cat "$OUT/env.txt"

say "unpacking Node"
node_root=/tmp/spark-node
rm -rf "$node_root" && mkdir -p "$node_root"
if command -v xz >/dev/null; then tar xJf .device/node.tar.xz -C "$node_root"
else python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' .device/node.tar.xz "$node_root"; fi
export PATH=$node_root/node/bin:$PATH NODE_PATH=$node_root/node/js_modules
node --version || { say "node does not run here"; exit 1; }

libtorch=$(python3 -c 'import os, torch.utils; print(os.path.dirname(os.path.dirname(torch.utils.cmake_prefix_path)))' 2>/dev/null || true)
if [ -n "$libtorch" ] && [ -d "$libtorch/include/torch" ] && [ -d "$libtorch/lib" ]; then
  export LIBTORCH_DIR=$libtorch
  TORCH_CXX11_ABI=$(python3 -c 'import torch; print(int(torch.compiled_with_cxx11_abi()))')
  export TORCH_CXX11_ABI
  # The CUDA libraries of the nvidia-* wheels, in case libtorch_cuda.so's own search path misses one.
  nv=$(python3 -c 'import glob, os, sys; print(":".join(sorted({os.path.dirname(p) for s in sys.path for p in glob.glob(os.path.join(s, "nvidia", "**", "lib", "*.so*"), recursive=True)})))' 2>/dev/null || true)
  [ -n "$nv" ] && export LD_LIBRARY_PATH=$LIBTORCH_DIR/lib:$nv${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
fi

say "building the addon (LIBTORCH_DIR=${LIBTORCH_DIR:-none}, abi ${TORCH_CXX11_ABI:-default})"
NATIVE_JOBS=$(nproc) bash scripts/build-native.sh > "$OUT/build.log" 2>&1
rc=$?
tail -n 25 "$OUT/build.log"
if [ $rc != 0 ]; then
  say "build failed after $(elapsed); the first errors:"
  grep -m 30 -E 'error|Error' "$OUT/build.log"
  exit $rc
fi
say "built in $(elapsed)"

say "benchmark: $*"
node .device/gpu.mjs --out "$OUT/gpu.jsonl" --commit "$(cat .device/commit 2>/dev/null)" "$@" 2>&1 | tee -a "$OUT/bench.log"
rc=${PIPESTATUS[0]}
say "done in $(elapsed) (exit $rc)"
exit $rc
