#!/usr/bin/env bash
# build.sh: install missing packages, then build imgate in the source tree.
#
# Each autotools step runs only when needed, so a second run is just an incremental `make`.
set -euo pipefail

cd "$(dirname "$0")/.."

bash scripts/deps.sh

# configure must be regenerated when any autotools input is newer than it.
regen=0
if [ ! -x configure ]; then
	regen=1
elif [ -n "$(find configure.ac Makefile.am -newer configure)" ] ||
	[ -n "$(find . -name Makefile.inc -not -path './imgate-*' -newer configure)" ]; then
	regen=1
fi
if [ "$regen" = 1 ]; then
	./autogen.sh
fi

# Once configured, make itself re-runs config.status --recheck when configure changes (keeping
# the options of the first ./configure), so configure only runs here the first time.
if [ ! -f Makefile ] || [ ! -f config.status ]; then
	./configure
fi

make -j"$(nproc)"
