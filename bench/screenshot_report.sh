#!/usr/bin/env bash
# Render an HTML release report in headless Chromium and save a PNG screenshot.
# Usage: bench/screenshot_report.sh REPORT.html OUT.png [WIDTHxHEIGHT]
# No network: chromium's background services are switched off and the page is self-contained.
set -euo pipefail
report="$1"
png="$2"
size="${3:-1280,1600}"
chromium_bin="${CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$chromium_bin" ]; then
  echo "skip: chromium not found at $chromium_bin (set CHROMIUM=...)" >&2
  exit 0
fi
profile_dir="$(mktemp -d)"
trap 'rm -rf "$profile_dir"' EXIT
timeout 120 "$chromium_bin" --headless --no-sandbox --disable-gpu --disable-background-networking \
  --disable-component-update --disable-sync --no-first-run --hide-scrollbars \
  --user-data-dir="$profile_dir" --screenshot="$png" --window-size="$size" \
  "file://$(realpath "$report")" >/dev/null 2>&1
test -s "$png"
echo "wrote $png"
