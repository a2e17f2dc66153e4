#!/bin/sh
# setup-debian.sh - install hsi's Debian 12 dependencies and build it in build/.
#   tools/setup-debian.sh [--deps-only] [extra configure options...]
# Uses sudo for apt-get when not run as root. Safe to run again.
set -eu
cd "$(dirname "$0")/.."
deps_only=no
if [ "${1:-}" = "--deps-only" ]; then deps_only=yes; shift; fi

PACKAGES="build-essential autoconf automake libtool pkg-config \
  libgdal-dev gdal-bin libopenblas-dev liblapacke-dev libsvm-dev libsvm-tools \
  libopenmpi-dev openmpi-bin libmatio-dev zlib1g-dev libcairo2-dev fonts-dejavu-core python3 python3-numpy python3-scipy python3-sklearn \
  time"
# (GNU time: bench/stream_8g.sh and the memory figures take peak RSS from 'time -v'.)
# The test suite adds what only it needs (clang and libFuzzer for the fuzz smoke test,
# chromium to render the experiment report headless: tests/test_experiment_html.sh).
PACKAGES="$PACKAGES ${HSI_EXTRA_PACKAGES:-}"

missing=""
for p in $PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  echo "setup: installing$missing" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
[ "$deps_only" = yes ] && exit 0

[ -x configure ] && [ configure -nt configure.ac ] || autoreconf -fi >/dev/null 2>&1
mkdir -p build
cd build
if [ ! -f Makefile ] || [ "$#" -gt 0 ]; then
  ../configure "$@" | sed -n '/configuration summary/,$p'
fi
make -j"$(nproc)" >/dev/null
echo "setup: built $(pwd)/hsi: $(./hsi --version | head -1)" >&2
