#!/usr/bin/env bash
# deps.sh: install the Debian packages imgate needs to build, test and run locally.
#
# Only what is missing is installed, and a machine that already has everything does no network
# work at all (dpkg-query first, one `apt-get update` only when something must be installed).
# The system MariaDB/Redis services are not wanted: tests and scripts/run-local start private
# servers (t/lib/services.sh), so service start-up during installation is suppressed.
set -euo pipefail

packages=(
	build-essential autoconf automake libtool pkg-config
	libevent-dev libprotobuf-c-dev protobuf-c-compiler libmariadb-dev libhiredis-dev
	libinih-dev libsodium-dev libssl-dev uuid-dev
	mariadb-server mariadb-client redis-server curl
)

missing=()
for p in "${packages[@]}"; do
	status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$status" = installed ] || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi

echo "deps.sh: installing ${missing[*]}" >&2
sudo=()
if [ "$(id -u)" != 0 ]; then
	command -v sudo >/dev/null || {
		echo "deps.sh: not root and no sudo; install as root: apt-get install ${missing[*]}" >&2
		exit 1
	}
	sudo=(sudo)
fi

# policy-rc.d exit 101 = "action forbidden": invoke-rc.d / deb-systemd-invoke then leave the
# freshly installed mariadb/redis services stopped. Only ours is removed afterwards.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\n# temporary, from imgate scripts/deps.sh\nexit 101\n' |
		"${sudo[@]}" tee "$policy" >/dev/null
	"${sudo[@]}" chmod 755 "$policy"
	trap '"${sudo[@]}" rm -f "$policy"' EXIT
fi

export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
