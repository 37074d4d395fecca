#!/usr/bin/env bash
# The third-party path, end to end: install imgate into a staging tree
# (make install DESTDIR=...), build the example plugin OUT OF TREE from its
# three files with `pkg-config imgate-plugin` (plugins/example/README.md), then
# run the INSTALLED imgated with that plugin and query it with the INSTALLED
# imgate-cli. The example's two commands that need MySQL/Redis are not used.
set -uo pipefail
: "${top_srcdir:?}" "${top_builddir:?}"

n=0; failed=0
ok() { n=$((n+1)); if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed+1)); fi; }

work=$top_builddir/t/tmp/out-of-tree-$$
dest=$work/dest
mkdir -p "$work"
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

prefix=$(sed -n 's/^prefix=//p' "$top_builddir/imgate-plugin.pc")
libdir=$(sed -n 's/^libdir=//p' "$top_builddir/imgate-plugin.pc" | sed "s|\${exec_prefix}|$prefix|; s|\${prefix}|$prefix|")

env -u MAKEFLAGS -u MFLAGS make -C "$top_builddir" install DESTDIR="$dest" > "$work/install.log" 2>&1
ok $? "make install DESTDIR=... succeeds"
[ -f "$dest$prefix/include/imgate/plugin.h" ] && [ -f "$dest$libdir/pkgconfig/imgate-plugin.pc" ]
ok $? "plugin.h and imgate-plugin.pc are installed"

src=$work/src
mkdir -p "$src"
cp "$top_srcdir/plugins/example/example.c" "$top_srcdir/plugins/example/example_ids.h" "$top_srcdir/plugins/example/example.proto" \
   "$top_srcdir/plugins/example/standalone.mk" "$src/"
# The staged .pc still names the final prefix; point a copy at the staging tree
# (a sysroot would also rewrite the system packages' paths, which live outside it).
mkdir -p "$work/pc"
sed "s|^prefix=.*|prefix=$dest$prefix|" "$dest$libdir/pkgconfig/imgate-plugin.pc" > "$work/pc/imgate-plugin.pc"
export PKG_CONFIG_PATH=$work/pc
make -C "$src" -f standalone.mk > "$work/build.log" 2>&1
rc=$?
ok $rc "the example builds out of tree against the installed header"
[ $rc -eq 0 ] || sed 's/^/# /' "$work/build.log"

exported=$(nm -D --defined-only "$src/example.so" 2>/dev/null | awk '$2 ~ /[DdBbRr]/ {print $3}' | sort | tr '\n' ' ')
[ "$exported" = "imgate_plugin_descriptor " ]
ok $? "it exports only its descriptor (got: $exported)"

# A plugin built against the ABI 1.1 header (not installed any more: the copy kept in t/abi/)
# must load into this core as it is.
cc -std=c11 -Wall -Wextra -Wno-unused-parameter -Werror -fPIC -fvisibility=hidden \
	-I"$top_srcdir/t/abi/1.1" $(pkg-config --cflags libprotobuf-c) -shared -Wl,-z,defs \
	-o "$src/legacy11.so" "$top_srcdir/t/plugins/legacy11.c" > "$work/legacy.log" 2>&1
rc=$?
ok $rc "a plugin builds out of tree against the ABI 1.1 header"
[ $rc -eq 0 ] || sed 's/^/# /' "$work/legacy.log"

plugindir=$(pkg-config --variable=plugindir imgate-plugin | sed "s|^$dest||")
[ "$(basename "$plugindir")" = plugins ]
[ -n "$plugindir" ]
ok $? "pkg-config exports plugindir ($plugindir)"

# Run the installed daemon with the out-of-tree plugin; ports picked free by the kernel.
# A random high port that nothing answers on (bash's /dev/tcp connect fails).
port() {
	local p
	while :; do
		p=$(shuf -i 20000-60999 -n 1)
		(echo > "/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
	done
}
mkdir -p "$work/plugins"
cp "$src/example.so" "$src/legacy11.so" "$work/plugins/"
export LD_LIBRARY_PATH=$dest$libdir
write_ini() {
	cat > "$work/imgated.ini" <<INI
[gateway]
listen = 127.0.0.1:$p
[http]
listen = 127.0.0.1:$hp
[plugins]
dir = $work/plugins
enable = example, legacy11
[plugin.example]
version = out-of-tree-1
INI
}
p=$(port); hp=$(port)
write_ini
"$dest$prefix/sbin/imgated" -t -c "$work/imgated.ini" > /dev/null
ok $? "installed imgated -t accepts the config"
# A port found free can be taken by another test before the daemon binds it: start again
# with new ports if the daemon exits instead of answering.
for attempt in 1 2 3; do
	"$dest$prefix/sbin/imgated" -c "$work/imgated.ini" 2> "$work/imgated.log" &
	pid=$!
	up=1
	for _ in $(seq 100); do
		curl -sf "http://127.0.0.1:$hp/health" > /dev/null && { up=0; break; }
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	[ $up -eq 0 ] && break
	kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
	echo "# start attempt $attempt failed:"; sed 's/^/#   /' "$work/imgated.log" | tail -3
	p=$(port); hp=$(port)
	write_ini
done
out=$("$dest$prefix/bin/imgate-cli" -p "$p" example 2>&1)
echo "$out" | grep -q 'version: out-of-tree-1' && echo "$out" | grep -q 'greeting: hello from the example plugin'
ok $? "the installed imgate-cli gets the out-of-tree plugin's reply"
[ $? -eq 0 ] || echo "$out" | sed 's/^/# /'
out=$("$dest$prefix/bin/imgate-cli" -p "$p" raw 0x7E00 0x0001 /dev/null 2>&1)
echo "$out" | grep -q '^sid=0x7e00 cid=0x0002 ' && echo "$out" | grep -q 'c0 ff ee 11'
ok $? "the installed daemon runs the 1.1 plugin, and conn_info respects its smaller struct"
[ $? -eq 0 ] || echo "$out" | sed 's/^/# /'
kill -TERM "$pid"; wait "$pid"
ok $? "imgated exits 0 on SIGTERM"
pid=

echo "1..$n"
[ $failed -eq 0 ]
