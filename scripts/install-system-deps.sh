#!/usr/bin/env bash
# Installs the Debian packages the test suite drives as real peers.
# Idempotent: does nothing when everything is already there.
set -euo pipefail

# storescu/storescp peers; dciodvfy validates result objects; chromium runs the
# dashboard's browser tests (driven by Playwright, which downloads no browser).
# Orthanc is a real PACS peer for the radiology pipeline's tests.
packages=(dcmtk dicom3tools chromium orthanc)

missing=()
for pkg in "${packages[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
sudo_cmd=""
[ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
$sudo_cmd apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
