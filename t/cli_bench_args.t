#!/usr/bin/env bash
# imgate-bench without a server: its self-test (percentile math against exact
# sorting, option parsing, the login scenario's user assignment, md5hex), its
# usage errors, and a run against a port nobody listens on (every attempt
# refused: exit 1, failures grouped, JSON written). Also imgate-cli login's
# argument handling.
set -uo pipefail
: "${top_srcdir:?}" "${top_builddir:?}"
bench=$top_builddir/tools/imgate-bench
cli=$top_builddir/tools/imgate-cli
n=0; failed=0
ok() { n=$((n+1)); if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed+1)); fi; }
work=$top_builddir/t/tmp/cli-bench-args-$$
mkdir -p "$work"
trap 'rm -rf "$work"' EXIT

"$bench" self-test > "$work/selftest" 2>&1
rc=$?
sed 's/^/# /' "$work/selftest"
[ $rc -eq 0 ] && ! grep -q '^not ok' "$work/selftest"
ok $? "imgate-bench self-test passes"

"$bench" > /dev/null 2>&1; [ $? -eq 2 ]; ok $? "no arguments: usage error (2)"
"$bench" fly -d 1 > /dev/null 2> "$work/err"; rc=$?
[ $rc -eq 2 ] && grep -q "unknown scenario 'fly'" "$work/err"; ok $? "an unknown scenario is a usage error"
"$bench" login -c 2 > /dev/null 2> "$work/err"; rc=$?
[ $rc -eq 2 ] && grep -q -- "-d SECONDS and -n TOTAL" "$work/err"; ok $? "-d or -n is required"
"$bench" login -p 1 -c 100000 -d 0.2 > /dev/null 2> "$work/err"; rc=$?
# Either the fd limit refuses it or it runs against nothing; it must not hang or crash.
[ $rc -ne 0 ]; ok $? "an impossible load fails cleanly ($rc)"
"$bench" --help | grep -q -- "--source-ips"; ok $? "--help documents the options"
"$bench" msg -d 1 --receiver-port 0 > /dev/null 2> "$work/err"; rc=$?
[ $rc -eq 2 ] && grep -q "bad --receiver-port '0'" "$work/err"; ok $? "--receiver-port 0 is a usage error"
"$bench" file -H 127.0.0.1 -p 1 -c 1 --users 2 -d 1 --window 17 > /dev/null 2> "$work/err"; rc=$?
[ $rc -ne 0 ] && grep -q -- "--window is 1..16" "$work/err"; ok $? "file: a window above 16 is refused, saying why"
"$cli" --help | grep -q "^usage: imgate-cli"; ok $? "imgate-cli --help prints the usage"

# Port 1 on loopback: nothing listens there (it needs root, and no test binds it).
"$bench" login -H 127.0.0.1 -p 1 -c 4 -n 40 --timeout-ms 500 --json "$work/refused.json" \
	> "$work/out" 2> "$work/err"
rc=$?
[ $rc -eq 1 ]; ok $? "every attempt refused: exit 1 ($rc)"
grep -Eq '^ +40 +refused' "$work/out"; ok $? "the 40 refusals are counted under 'refused'"
grep -q '"completed":0,"failed":40' "$work/refused.json" &&
	grep -q '"reason":"refused"' "$work/refused.json"
ok $? "--json writes the same figures"

"$cli" login onlyone > /dev/null 2>&1; [ $? -eq 2 ]; ok $? "imgate-cli login needs USER and PASS"
"$cli" login a b -c fridge > /dev/null 2>&1; [ $? -eq 2 ]; ok $? "imgate-cli login refuses an unknown client type"
"$cli" -p 1 login a b -c android > /dev/null 2>&1; [ $? -eq 1 ]; ok $? "imgate-cli login exits 1 when it cannot connect"

echo "1..$n"
[ $failed -eq 0 ]
