#!/usr/bin/env bash
# The group plugin's [plugin.group] keys: the sample etc/imgated.ini passes `imgated -t` with the
# plugin enabled, and bad values are refused with FILE:LINE.
set -uo pipefail
: "${top_srcdir:?}" "${top_builddir:?}"
imgated=$top_builddir/core/imgated
n=0; failed=0
ok() { n=$((n+1)); if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed+1)); fi; }
work=$top_builddir/t/tmp/group-config-$$
mkdir -p "$work/plugins"
trap 'rm -rf "$work"' EXIT
for name in login group; do
	ln -s "$top_builddir/plugins/$name/.libs/$name.so" "$work/plugins/$name.so"
done

sed -e "s|^dir = .*|dir = $work/plugins|" -e "s|^enable = .*|enable = login, group|" \
	"$top_srcdir/etc/imgated.ini" > "$work/sample.ini"
grep -q '^\[plugin.group\]' "$work/sample.ini"
ok $? "the sample has a [plugin.group] section"
"$imgated" -t -c "$work/sample.ini" > "$work/out" 2>&1
ok $? "the sample passes -t with the group plugin enabled ($(cat "$work/out"))"

printf '[plugins]\ndir = %s\nenable = group\n[plugin.group]\nmax_members = 0\n' "$work/plugins" > "$work/zero.ini"
"$imgated" -t -c "$work/zero.ini" > /dev/null 2> "$work/err"
[ $? -ne 0 ] && grep -qx "$work/zero.ini:5: \[plugin.group\] max_members: expected a number from 1 to 100000, got '0'" "$work/err"
ok $? "max_members = 0 is refused with FILE:LINE ($(cat "$work/err"))"
printf '[plugins]\ndir = %s\nenable = group\n[plugin.group]\nmax_member = 5\n' "$work/plugins" > "$work/typo.ini"
"$imgated" -t -c "$work/typo.ini" > /dev/null 2> "$work/err"
[ $? -ne 0 ] && grep -qx "$work/typo.ini:5: unknown key 'max_member' in \[plugin.group\]" "$work/err"
ok $? "a misspelt key is refused ($(cat "$work/err"))"

echo "1..$n"
[ "$failed" -eq 0 ]
