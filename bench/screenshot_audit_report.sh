#!/usr/bin/env bash
# Render an audit report and screenshot it in headless Chromium (what clinicians see).
#
#   bench/screenshot_audit_report.sh [RESULTS.json] [OUT_DIR]
#
# Without RESULTS.json it uses the evaluate stage's example (tests/auditkit/data/).
# Writes OUT_DIR/report.html and OUT_DIR/report.png (1280x2000) and prints the timings.
set -euo pipefail
cd "$(dirname "$0")/.."
RESULTS="${1:-tests/auditkit/data/example_results.json}"
OUT="${2:-bench-output/screenshot}"
BIN="${BIN:-.venv/bin}"
CHROMIUM="$(command -v chromium || command -v chromium-browser || true)"
mkdir -p "$OUT"

start=$(date +%s%N)
"$BIN/auditkit" report "$RESULTS" --out "$OUT/report.html" \
  --policy profiles/policies/example.yaml >/dev/null
mid=$(date +%s%N)
if [ -z "$CHROMIUM" ]; then
  echo "chromium not installed: wrote $OUT/report.html, no screenshot" >&2
  exit 0
fi
profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
"$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-background-networking \
  --disable-component-update --disable-sync --no-first-run --user-data-dir="$profile" \
  --screenshot="$OUT/report.png" --window-size=1280,2000 "file://$(realpath "$OUT/report.html")" \
  >/dev/null 2>&1
end=$(date +%s%N)
echo "report: $OUT/report.html ($(( (mid - start) / 1000000 )) ms)"
echo "screenshot: $OUT/report.png ($(( (end - mid) / 1000000 )) ms)"
