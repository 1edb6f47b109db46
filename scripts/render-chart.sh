#!/usr/bin/env bash
# Prints the SPaRK Helm chart's manifests as multi-document YAML, as `helm template` does.
#
#   scripts/render-chart.sh [-f VALUES]... [--set k=v]... [--set-string k=v]...
#                           [--release-name NAME] [--namespace NS] [--notes] [--chart DIR]
#
# Uses `helm` when it is on PATH (SPARK_RENDERER=go forces the fallback), otherwise the small Go renderer
# in scripts/chart-renderer/ (Go text/template + sprig + Helm's functions), built on first use from
# Debian packages (golang-go, golang-github-masterminds-sprig-dev, golang-k8s-sigs-yaml-dev,
# golang-github-xeipuuv-gojsonschema-dev) in GOPATH mode with downloads off, into .spark/chart-renderer/
# (git-ignored); later runs reuse it until main.go changes. --notes prints the rendered NOTES.txt instead.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
chart="$repo/charts/spark"
release=spark
namespace=default
notes=0
pass=()
while (($#)); do
  case "$1" in
    -f|--values|--set|--set-string) (($# >= 2)) || { echo "render-chart: $1 needs a value" >&2; exit 2; }
      pass+=("$1" "$2"); shift 2 ;;
    --release-name) release=$2; shift 2 ;;
    --namespace|-n) namespace=$2; shift 2 ;;
    --chart) chart=$2; shift 2 ;;
    --notes) notes=1; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "render-chart: unknown argument '$1' (allowed: -f, --values, --set, --set-string, --release-name, --namespace, --chart, --notes)" >&2; exit 2 ;;
  esac
done

if command -v helm >/dev/null && [ "${SPARK_RENDERER:-helm}" != go ]; then
  # helm spells -f/--values/--set/--set-string the same way.
  if ((notes)); then
    helm install "$release" "$chart" --namespace "$namespace" --dry-run=client "${pass[@]}" | sed -n '/^NOTES:$/,$p' | tail -n +2
  else
    helm template "$release" "$chart" --namespace "$namespace" "${pass[@]}"
  fi
  exit
fi

build="$repo/.spark/chart-renderer"
bin="$build/chart-renderer"
src="$repo/scripts/chart-renderer/main.go"
stamp=$(sha256sum "$src" | cut -d' ' -f1)
mkdir -p "$build"
# One build at a time (parallel test workers render at once); the others wait, then reuse it.
exec 9>"$build/lock"
flock 9
if [ ! -x "$bin" ] || [ "$(cat "$build/source.sha256" 2>/dev/null)" != "$stamp" ]; then
  command -v go >/dev/null || { echo "render-chart: neither helm nor go is installed; run scripts/setup.sh (installs golang-go and the Go libraries from scripts/apt-packages.txt)" >&2; exit 1; }
  # GOPATH mode: the program sits in <gopath>/src/sparkrender next to a go.mod naming it, so that
  # github.com/Masterminds/sprig/v3 resolves to Debian's /usr/share/gocode copy (minimal module compatibility).
  pkg="$build/gopath/src/sparkrender"
  mkdir -p "$pkg" "$build/cache"
  cp "$src" "$pkg/main.go"
  echo 'module sparkrender' > "$pkg/go.mod"
  (cd "$pkg" && GO111MODULE=off GOPATH="$build/gopath:/usr/share/gocode" GOPROXY=off GOFLAGS= GOCACHE="$build/cache" \
    go build -o "$bin.tmp" .) && mv "$bin.tmp" "$bin"
  echo "$stamp" > "$build/source.sha256"
fi
flock -u 9
args=(--release-name "$release" --namespace "$namespace")
((notes)) && args+=(--notes)
exec "$bin" "${args[@]}" "${pass[@]}" "$chart"
