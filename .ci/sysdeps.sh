#!/usr/bin/env bash
# Install the system packages that some tests need: headless Chromium (report screenshots),
# dicom3tools (dciodvfy, the IOD validator used as an oracle) and tesseract-ocr (burned-in text).
# Without root or apt, those tests skip with a visible reason; the rest still runs.
set -u
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium fonts-dejavu-core)
command -v dciodvfy >/dev/null 2>&1 || need+=(dicom3tools)
command -v tesseract >/dev/null 2>&1 || need+=(tesseract-ocr tesseract-ocr-eng)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "sysdeps: cannot install ${need[*]} (not root or no apt); tests that need them will skip" >&2
  exit 0
fi
echo "sysdeps: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}"; } >/tmp/deidkit-sysdeps.log 2>&1; then
  echo "sysdeps: apt-get failed (see /tmp/deidkit-sysdeps.log); tests that need them will skip" >&2
fi
exit 0
