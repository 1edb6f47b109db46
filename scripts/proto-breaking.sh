#!/usr/bin/env bash
# `npm run breaking:proto [REF]`: fail when proto/ breaks compatibility with REF (default: main on origin,
# else the previous commit). Run before changing a contract other services or users depend on.
set -euo pipefail
cd "$(dirname "$0")/.."
ref="${1:-}"
if [ -z "$ref" ]; then
  if git rev-parse -q --verify origin/main >/dev/null; then ref=origin/main; else ref=HEAD~1; fi
fi
npx buf breaking --against ".git#ref=${ref},subdir=proto"
