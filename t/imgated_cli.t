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
echo "$out" | grep -Eq '^imgated [0-9.]+ \(plugin ABI 1\.1, imgate-abi-1;'
ok $? "-v prints the version and the plugin ABI ($out)"

"$imgated" -t -c "$top_srcdir/etc/imgated.ini" > "$work/out" 2>&1
ok $? "the sample etc/imgated.ini passes -t"

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
