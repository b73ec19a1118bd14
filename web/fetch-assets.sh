#!/bin/sh
# Installs the pinned npm packages (package-lock.json, integrity-checked) and
# copies the htmx and htmx-ext-ws builds into assets/vendor/, which is
# git-ignored and embedded into the binary. Run from anywhere: `make assets`.
set -eu
cd "$(dirname "$0")"

# npm ci is skipped when node_modules already matches the lock file (npm
# writes node_modules/.package-lock.json on install).
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
	npm ci --ignore-scripts --no-audit --no-fund
fi

mkdir -p assets/vendor
cp node_modules/htmx.org/dist/htmx.min.js assets/vendor/htmx.min.js
cp node_modules/htmx-ext-ws/dist/ws.min.js assets/vendor/ws.min.js
echo "fetch-assets: htmx $(node -p 'require("./node_modules/htmx.org/package.json").version'), htmx-ext-ws $(node -p 'require("./node_modules/htmx-ext-ws/package.json").version') -> assets/vendor/"
