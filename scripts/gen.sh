#!/usr/bin/env bash
# `npm run gen`: regenerate services/common/gen from proto/ with buf + the local ts-proto plugin.
# Usage: scripts/gen.sh [OUTPUT_BASE]   (default: the repository; tests pass a temp folder to compare)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-.}"
if [ "$out" = . ]; then rm -rf services/common/gen; fi
npx buf lint
npx buf generate -o "$out"
