#!/usr/bin/env bash
# One idempotent setup for `npm start` and `npm test` on a fresh Debian machine with Node 20:
#   1. Debian packages from scripts/apt-packages.txt, only the missing ones (printed, not run, when not root)
#   2. `npm ci`, only when package-lock.json changed since the last install
#   3. protobuf code generation, only when proto/ or the generator config changed
#   4. TypeScript build (incremental: seconds when nothing changed)
# On an already set-up machine this takes a few seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'setup: %s\n' "$*" >&2; }

# 1. Debian packages
mapfile -t wanted < <(grep -v -E '^\s*(#|$)' scripts/apt-packages.txt | awk '{print $1}')
missing=()
for pkg in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # Refresh the package lists when they are missing (fresh machine) or a first try cannot find a package.
    if ! ls /var/lib/apt/lists/*_Packages >/dev/null 2>&1; then apt-get update -qq; fi
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
      || { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
  else
    say "missing Debian packages; run as root: apt-get install -y ${missing[*]}"
  fi
fi

# 2. npm dependencies
lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -d node_modules ] || [ "$(cat node_modules/.spark-lock-hash 2>/dev/null)" != "$lock_hash" ]; then
  say "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_hash" > node_modules/.spark-lock-hash
fi

# 3. code generation (the generated code is committed; this keeps it in step with proto/)
gen_hash=$(cat buf.gen.yaml buf.yaml $(find proto -name '*.proto' | sort) node_modules/ts-proto/package.json | sha256sum | cut -d' ' -f1)
if [ "$(cat node_modules/.spark-gen-hash 2>/dev/null)" != "$gen_hash" ] || [ ! -d services/common/gen ]; then
  say "generating protobuf code"
  bash scripts/gen.sh
  echo "$gen_hash" > node_modules/.spark-gen-hash
fi

# 4. build
bash scripts/build-native.sh || say "libtorch addon not built: the trainer's model cannot run (see scripts/build-native.sh)"
say "building TypeScript"
npx tsc -p tsconfig.json

# 5. the encyclopedia tool's index (WordNet + GCIDE + FOLDOC → .spark/encyclopedia): ~15 s once, instant when up to date
node dist/scripts/build-encyclopedia.js
