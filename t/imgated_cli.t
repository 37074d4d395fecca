#!/usr/bin/env bash
# imgated's command line: -v prints version and ABI; -t checks a file and
# reports FILE:LINE: reason with a non-zero exit; a bad file refuses to start.
set -uo pipefail
: "${top_srcdir:?}" "${top_builddir:?}"
imgated=$top_builddir/core/imgated
n=0; failed=0
ok() { n=$((n+1)); if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed+1)); fi; }
work=$top_builddir/t/tmp/imgated-cli-$$
mkdir -p "$work"
trap 'rm -rf "$work"' EXIT

out=$("$imgated" -v)
echo "$out" | grep -Eq '^imgated [0-9.]+ \(plugin ABI 1\.2, imgate-abi-1;'
ok $? "-v prints the version and the plugin ABI ($out)"

# -t opens the enabled plugins (none of their code runs) to check their declared keys: point
# the sample's plugin directory at the freshly built ones.
mkdir -p "$work/plugins"
for name in login buddy group message file example; do
	ln -s "$top_builddir/plugins/$name/.libs/$name.so" "$work/plugins/$name.so"
done
sed "s|^dir = .*|dir = $work/plugins|" "$top_srcdir/etc/imgated.ini" > "$work/sample.ini"
"$imgated" -t -c "$work/sample.ini" > "$work/out" 2>&1
ok $? "the sample etc/imgated.ini passes -t ($(cat "$work/out"))"

# A plugin's section is checked against the keys it declares: line numbers and all.
printf '[plugins]\ndir = %s\nenable = login\n[plugin.login]\nlockout_failures = 10\nlockout_failurez = 3\n' \
	"$work/plugins" > "$work/unknown.ini"
"$imgated" -t -c "$work/unknown.ini" > /dev/null 2> "$work/err"
[ $? -ne 0 ] && grep -qx "$work/unknown.ini:6: unknown key 'lockout_failurez' in \[plugin.login\]" "$work/err"
ok $? "-t refuses an undeclared plugin key with FILE:LINE ($(cat "$work/err"))"
printf '[plugins]\ndir = %s\nenable = login\n[plugin.login]\nredis_down = maybe\n' "$work/plugins" > "$work/enum.ini"
"$imgated" -t -c "$work/enum.ini" > /dev/null 2> "$work/err"
[ $? -ne 0 ] && grep -qx "$work/enum.ini:5: \[plugin.login\] redis_down: expected allow|refuse, got 'maybe'" "$work/err"
ok $? "-t refuses a bad plugin value with FILE:LINE ($(cat "$work/err"))"
printf '[plugins]\ndir = %s\nenable = login\n[plugin.login]\nlockout_window_s = ten\n' "$work/plugins" > "$work/num.ini"
"$imgated" -t -c "$work/num.ini" > /dev/null 2> "$work/err"
[ $? -ne 0 ] && grep -qx "$work/num.ini:5: \[plugin.login\] lockout_window_s: expected a number from 1 to 2592000, got 'ten'" "$work/err"
ok $? "-t refuses a non-number where a number is declared ($(cat "$work/err"))"
printf '[plugins]\ndir = %s\nenable = login,nosuch\n' "$work/plugins" > "$work/missing-plugin.ini"
"$imgated" -t -c "$work/missing-plugin.ini" > /dev/null 2> "$work/err"
[ $? -ne 0 ] && grep -q "plugin nosuch" "$work/err"
ok $? "-t reports an enabled plugin that cannot be opened ($(cat "$work/err"))"

printf '[gateway]\nlisten = 127.0.0.1:1\n\nmax_frame = lots\n' > "$work/bad.ini"
"$imgated" -t -c "$work/bad.ini" > "$work/out" 2> "$work/err"
rc=$?
[ $rc -ne 0 ]; ok $? "-t on a bad file exits non-zero ($rc)"
grep -qx "$work/bad.ini:4: \[gateway\] max_frame: expected a number from 16 to 67108864, got 'lots'" "$work/err"
ok $? "and prints FILE:LINE: reason ($(cat "$work/err"))"

"$imgated" -c "$work/bad.ini" > /dev/null 2> "$work/err"
[ $? -ne 0 ] && grep -q "bad.ini:4:" "$work/err"
ok $? "starting with a bad file fails with the same reason"

"$imgated" -t -c "$work/missing.ini" > /dev/null 2> "$work/err"
[ $? -ne 0 ] && grep -q "missing.ini:0: cannot open" "$work/err"
ok $? "a missing file is reported"

"$imgated" -x > /dev/null 2>&1
[ $? -eq 2 ]; ok $? "an unknown option is a usage error (2)"

echo "1..$n"
[ $failed -eq 0 ]
