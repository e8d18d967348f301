#!/bin/sh
# Install the Debian packages that `make demo` and `make test` need, when they are missing.
# Used by the Makefile and by .ci/run; safe to run again (it installs nothing twice).
set -eu
need=""
python3 -c 'import ensurepip, venv' 2>/dev/null || need="$need python3-venv"
command -v git >/dev/null 2>&1 || need="$need git"
command -v bwrap >/dev/null 2>&1 || need="$need bubblewrap"
command -v valgrind >/dev/null 2>&1 || need="$need valgrind"
# systemd-analyze and systemd-creds: the unit and credential tests run the real tools.
command -v systemd-analyze >/dev/null 2>&1 || need="$need systemd"
# Headless Chromium: the dashboard's browser test (tests/api/test_browser.py).
command -v chromium >/dev/null 2>&1 || need="$need chromium"
for extra in "$@"; do
  command -v "$extra" >/dev/null 2>&1 || need="$need $extra"
done
[ -z "$need" ] && exit 0
if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
  echo "bootstrap: please install:$need (apt-get install$need)" >&2; exit 1
fi
echo "bootstrap: installing$need" >&2
$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
# shellcheck disable=SC2086 # word splitting of the package list is intended
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need >/dev/null
