#!/usr/bin/env bash
# The browser tests drive Debian's Chromium at /usr/bin/chromium (Playwright never downloads one
# here). On a fresh Debian machine `make test` installs it when it runs as root; otherwise it
# says what to install.
set -euo pipefail
[ -x /usr/bin/chromium ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "Installing Debian's chromium for the browser tests (apt-get)..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium >/dev/null
else
  echo "The browser tests need Debian's Chromium at /usr/bin/chromium:" \
    "run 'sudo apt-get install chromium', then 'make test' again." >&2
  exit 1
fi
