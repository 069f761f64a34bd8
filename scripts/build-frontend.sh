#!/usr/bin/env bash
# Build the diagram widgets (bpmn-js viewer and modeler), the charts and the PDF reader
# (pdf.js) into webui/static/vendor/.
#
# Installs node_modules with `npm ci` only when it is missing or package-lock.json
# changed since the last install, and rebuilds only when a source changed, so it
# is cheap to call from setup, CI and `docroute serve` wrappers alike.
# Needs node >= 20 and npm; reaches the npm registry only for `npm ci`.
#
# usage: scripts/build-frontend.sh [--force]
set -euo pipefail

cd "$(dirname "$0")/.."

force=0
if [[ "${1:-}" == "--force" ]]; then
  force=1
fi

if ! command -v npm >/dev/null 2>&1; then
  echo "build-frontend: npm not found (install Node.js 20 or later)" >&2
  exit 1
fi

hash_of() {
  cat "$@" | sha256sum | cut -d' ' -f1
}

# 1. dependencies
lock_hash=$(hash_of package.json package-lock.json)
lock_stamp=node_modules/.docroute-lock.sha256
if [[ $force == 1 || ! -f $lock_stamp || "$(cat "$lock_stamp")" != "$lock_hash" ]]; then
  echo "build-frontend: npm ci"
  npm ci --no-audit --no-fund
  echo "$lock_hash" > "$lock_stamp"
fi

# 2. bundles
vendor=webui/static/vendor
build_stamp=$vendor/.build-stamp
mapfile -t sources < <(find frontend -type f | LC_ALL=C sort)
build_hash=$(hash_of package-lock.json "${sources[@]}")
outputs=(docroute-viewer.js docroute-viewer.css docroute-modeler.js docroute-modeler.css
         docroute-pdf.js pdf.worker.js manifest.json)
up_to_date=1
for f in "${outputs[@]}"; do
  [[ -f $vendor/$f ]] || up_to_date=0
done
if [[ $force == 0 && $up_to_date == 1 && -f $build_stamp && "$(cat "$build_stamp")" == "$build_hash" ]]; then
  echo "build-frontend: $vendor is up to date"
  exit 0
fi

npm run --silent build
echo "$build_hash" > "$build_stamp"
