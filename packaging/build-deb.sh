#!/bin/sh
# Build the .deb into dist/ from a clean copy of the tree (build/deb/), so that neither the
# working tree nor its parent directory collects debhelper's files.
set -eu
cd "$(dirname "$0")/.."
need=""
for pkg in debhelper dh-virtualenv devscripts build-essential python3-venv python3-dev; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need="$need $pkg"
done
if [ -n "$need" ]; then
    if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
    echo "build-deb: installing$need" >&2
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need
fi
version=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' runner/__init__.py)
src="build/deb/optirunner-$version"
rm -rf build/deb && mkdir -p "$src" dist
tar --exclude=./.venv --exclude=./.git --exclude=./build --exclude=./dist \
    --exclude='*/__pycache__' --exclude=./.mypy_cache --exclude=./.ruff_cache \
    --exclude=./.pytest_cache --exclude=./.hypothesis --exclude=./.benchmarks \
    -cf - . | tar -xf - -C "$src"
(cd "$src" && dpkg-buildpackage -us -uc -b)
mv build/deb/optirunner_*.deb dist/
ls -l dist/optirunner_*.deb
