#!/usr/bin/env bash
# Installs Debian's `chromium` for the browser tests (npm run test:browser, .ci/run) when it is missing.
#
# The browser tests drive it with playwright-core (executablePath /usr/bin/chromium): Playwright's own
# browser downloads (`npx playwright install`) are not used, so CI needs only the distribution's
# package mirror. Idempotent: does nothing when the browser is already there.
# Env: CHROMIUM_PATH (default /usr/bin/chromium) — when set to an existing executable, nothing is installed.
set -euo pipefail

CHROMIUM_PATH="${CHROMIUM_PATH:-/usr/bin/chromium}"

if [ -x "$CHROMIUM_PATH" ]; then
  echo "chromium: $CHROMIUM_PATH ($("$CHROMIUM_PATH" --version 2>/dev/null || echo 'version unknown'))"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-chromium: $CHROMIUM_PATH is missing and apt-get is not available." >&2
  echo "Install Chromium with your system's package manager and set CHROMIUM_PATH to its executable." >&2
  exit 1
fi

if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo -n)
else
  echo "install-chromium: $CHROMIUM_PATH is missing; installing it needs root (or sudo), and neither is available." >&2
  echo "As root run: apt-get update && apt-get install -y --no-install-recommends chromium" >&2
  exit 1
fi

echo "install-chromium: installing Debian's chromium with apt-get…"
# dpkg's per-package lines are kept out of CI logs; on failure the whole apt output is shown.
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if ! { "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o Dpkg::Use-Pty=0 --no-install-recommends chromium; } >"$log" 2>&1; then
  cat "$log" >&2
  echo "install-chromium: apt-get failed (output above)." >&2
  exit 1
fi

if [ ! -x "$CHROMIUM_PATH" ]; then
  echo "install-chromium: apt-get finished but $CHROMIUM_PATH is still missing." >&2
  exit 1
fi
echo "chromium: $CHROMIUM_PATH ($("$CHROMIUM_PATH" --version 2>/dev/null || echo 'version unknown'))"
