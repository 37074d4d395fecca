#!/usr/bin/env bash
# TAP test of the storage layer: t/lib/services.sh, scripts/db-load, sql/schema.sql, the
# migrations and sql/demo.sql, against a private MariaDB + Redis.
#
# The build runs .t files with $(SHELL), which may be dash: re-run under bash.
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -euo pipefail

: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
# services.sh keeps its MariaDB template under $top_builddir/t/tmp.
export top_srcdir top_builddir
services=$top_srcdir/t/lib/services.sh
dbload=$top_srcdir/scripts/db-load

n=0 failed=0
ok() { # ok COND-STATUS DESCRIPTION
	n=$((n + 1))
	if [ "$1" = 0 ]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2"
		failed=$((failed + 1))
	fi
}
is() { # is GOT WANT DESCRIPTION
	if [ "$1" = "$2" ]; then
		ok 0 "$3"
	else
		ok 1 "$3"
		printf '#   got:  %s\n#   want: %s\n' "$1" "$2"
	fi
}

mkdir -p "$top_builddir/t/tmp"
dir=$(mktemp -d "$top_builddir/t/tmp/sql_schema.XXXXXX")
# Stop the servers however the test ends; --watch below covers a SIGKILL of this script.
trap 'bash "$services" clean "$dir" >/dev/null 2>&1 || true' EXIT

start=$(date +%s%N)
if ! bash "$services" start "$dir" --demo --watch $$ >"$dir.start.log" 2>&1; then
	sed 's/^/# /' "$dir.start.log"
	rm -f "$dir.start.log"
	echo "Bail out! services.sh start failed"
	exit 1
fi
rm -f "$dir.start.log"
echo "# services.sh start took $((($(date +%s%N) - start) / 1000000)) ms"
ok 0 "services.sh start --demo"

# services.env: exactly the documented keys, absolute socket paths.
env_file=$dir/services.env
is "$(cut -d= -f1 "$env_file" | tr '\n' ' ')" \
	"MYSQL_SOCKET MYSQL_USER MYSQL_PASSWORD MYSQL_DATABASE REDIS_SOCKET " "services.env keys"
# shellcheck disable=SC1090
. "$env_file"
is "$MYSQL_SOCKET|$REDIS_SOCKET|$MYSQL_USER|$MYSQL_PASSWORD|$MYSQL_DATABASE" \
	"$dir/mysql.sock|$dir/redis.sock|root||teamtalk" "services.env values"

is "$(redis-cli -s "$REDIS_SOCKET" ping 2>&1)" PONG "redis answers on its socket"

q() { MYSQL_PWD=$MYSQL_PASSWORD mariadb --no-defaults --protocol=socket --socket="$MYSQL_SOCKET" \
	--user="$MYSQL_USER" --batch --skip-column-names "$MYSQL_DATABASE" -e "$1"; }

# Expected columns (in order) and secondary index names per table, from docs/protocol.md D plus the
# two tables the reference forgot. Every table's primary key is `id`.
declare -A cols idx charset
# password_argon2: migration 002 (the login plugin's stronger stored form).
cols[IMUser]="id sex name domain nick password salt password_argon2 phone email avatar departId status created updated push_shield_status sign_info"
# idx_departId, idx_updated_id: migration 030 (the buddy plugin's paged user sync, department presence).
idx[IMUser]="idx_departId idx_domain idx_name idx_phone idx_updated_id"
cols[IMDepart]="id departName priority parentId status created updated"
idx[IMDepart]="idx_departName idx_priority_status"
cols[IMGroup]="id name avatar creator type userCnt status version lastChated updated created"
idx[IMGroup]="idx_creator idx_name"
# shield: migration 020 (the group plugin keeps a member's group shield in MySQL).
cols[IMGroupMember]="id groupId userId status shield created updated"
idx[IMGroupMember]="idx_groupId_updated idx_groupId_userId_status idx_userId_status_updated"
for i in 0 1 2 3 4 5 6 7; do
	cols[IMMessage_$i]="id relateId fromId toId msgId content type status updated created"
	idx[IMMessage_$i]="idx_fromId_toId_created idx_relateId_status_created idx_relateId_status_msgId_created"
	cols[IMGroupMessage_$i]="id groupId userId msgId content type status updated created"
	idx[IMGroupMessage_$i]="idx_groupId_msgId_status_created idx_groupId_status_created"
done
cols[IMRecentSession]="id userId peerId type status created updated"
idx[IMRecentSession]="idx_userId_peerId_status_updated idx_userId_peerId_type"
cols[IMRelationShip]="id smallId bigId status created updated"
idx[IMRelationShip]="idx_smallId_bigId_status_updated"
cols[IMAudio]="id fromId toId path size duration created"
idx[IMAudio]="idx_fromId_toId"
cols[IMAdmin]="id uname pwd status created updated"
idx[IMAdmin]=""
cols[IMDiscovery]="id itemName itemUrl itemPriority status created updated"
idx[IMDiscovery]="idx_itemName"
cols[IMTransmitFile]="id fromId toId fileName size taskId status created updated"
idx[IMTransmitFile]="idx_fromId_status idx_status_created idx_taskId idx_toId_status_created"
cols[IMCallLog]="id userId peerId clientType created updated"
idx[IMCallLog]="idx_peerId_created idx_userId_created"
charset[IMUser]=utf8mb4_bin charset[IMMessage_3]=utf8mb4_bin charset[IMGroupMember]=utf8mb3_general_ci
charset[IMRecentSession]=utf8mb3_general_ci charset[IMRelationShip]=utf8mb3_general_ci

for t in $(printf '%s\n' "${!cols[@]}" | LC_ALL=C sort); do
	got_cols=$(q "SELECT column_name FROM information_schema.columns
		WHERE table_schema = DATABASE() AND table_name = '$t' ORDER BY ordinal_position" | tr '\n' ' ')
	is "$got_cols" "${cols[$t]} " "$t columns"
	got_keys=$(q "SELECT DISTINCT index_name FROM information_schema.statistics
		WHERE table_schema = DATABASE() AND table_name = '$t' ORDER BY index_name" | tr '\n' ' ')
	# shellcheck disable=SC2086 # the index list is meant to split into words
	want_keys=$(printf '%s\n' PRIMARY ${idx[$t]} | LC_ALL=C sort | tr '\n' ' ')
	is "$(LC_ALL=C sort <<<"${got_keys// /$'\n'}" | grep . | tr '\n' ' ')" "$want_keys" "$t indexes"
done
is "$(q "SELECT column_name FROM information_schema.key_column_usage WHERE table_schema = DATABASE()
	AND constraint_name = 'PRIMARY' AND table_name LIKE BINARY 'IM%' GROUP BY column_name")" id \
	"every IM table's primary key is id"
is "$(q "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE()
	AND table_name LIKE BINARY 'IM%'")" 27 "27 IM tables (25 reference + IMTransmitFile, IMCallLog)"
for t in "${!charset[@]}"; do
	is "$(q "SELECT table_collation FROM information_schema.tables
		WHERE table_schema = DATABASE() AND table_name = '$t'")" "${charset[$t]}" "$t collation"
done
is "$(q "SELECT CONCAT(uname, ':', pwd) FROM IMAdmin WHERE id = 1")" \
	"admin:21232f297a57a5a743894a0e4a801fc3" "IMAdmin seed row"

# Migrations: each file recorded exactly once, and each listed in sql/Makefile.inc for make dist.
migrations=()
for f in "$top_srcdir"/sql/migrations/[0-9][0-9][0-9]_*.sql; do
	[ -e "$f" ] && migrations+=("$(basename "$f" .sql)")
done
want_versions=$(printf '%s\n' "${migrations[@]}" | grep . | LC_ALL=C sort || true)
versions_before=$(q "SELECT CONCAT(version, ' ', applied) FROM imgate_schema_migrations ORDER BY version")
is "$(cut -d' ' -f1 <<<"$versions_before" | grep . || true)" "$want_versions" \
	"every migration recorded once (${#migrations[@]} files)"
for v in "${migrations[@]}"; do
	grep -qF "sql/migrations/$v.sql" "$top_srcdir/sql/Makefile.inc" && r=0 || r=1
	ok "$r" "$v.sql is in EXTRA_DIST"
done

# db-load again (twice, with --demo): no error, nothing re-applied, no duplicate demo rows.
for run in 1 2; do
	out=$(bash "$dbload" --socket "$MYSQL_SOCKET" --user root --password '' --demo 2>&1) && rc=0 || rc=$?
	is "$rc:$out" "0:" "db-load re-run $run succeeds silently"
done
is "$(q "SELECT CONCAT(version, ' ', applied) FROM imgate_schema_migrations ORDER BY version")" \
	"$versions_before" "re-runs applied no migration again"
is "$(q "SELECT GROUP_CONCAT(name ORDER BY id) FROM IMUser")" "alice,bob,carol" "demo users once"
is "$(q "SELECT GROUP_CONCAT(departName ORDER BY id) FROM IMDepart")" "Engineering,Sales" \
	"demo departments once"

# Demo passwords: verified with md5sum, independently of the MariaDB MD5() that made them.
md5hex() { printf '%s' "$1" | md5sum | cut -d' ' -f1; }
for u in alice:alice123 bob:bob123 carol:carol123; do
	name=${u%%:*} plain=${u#*:}
	row=$(q "SELECT CONCAT(password, ' ', salt, ' ', status, ' ', departId) FROM IMUser WHERE name = '$name'")
	read -r hash salt status depart <<<"$row"
	is "$hash" "$(md5hex "$(md5hex "$plain")$salt")" "$name/$plain verifies as md5(md5(plain)+salt)"
	[[ $salt =~ ^[0-9]{4}$ ]] && [ "$status" = 0 ] && [ "$depart" -ge 1 ] && r=0 || r=1
	ok "$r" "$name has a 4-digit salt, status 0, a department"
done

# MariaDB alone down and back: Redis keeps answering, data survives.
q "INSERT INTO IMDiscovery (itemName, itemUrl, itemPriority, created, updated) VALUES ('probe', '', 1, 0, 0)"
bash "$services" stop-mysql "$dir"
q "SELECT 1" >/dev/null 2>&1 && r=1 || r=0
ok "$r" "stop-mysql: database unreachable"
is "$(redis-cli -s "$REDIS_SOCKET" ping 2>&1)" PONG "stop-mysql: redis still up"
bash "$services" start-mysql "$dir"
is "$(q "SELECT itemName FROM IMDiscovery")" probe "start-mysql: same data back"

bash "$services" stop "$dir"
[ ! -e "$MYSQL_SOCKET" ] && [ ! -e "$REDIS_SOCKET" ] && [ ! -e "$dir/services.env" ] && r=0 || r=1
ok "$r" "stop removes sockets and services.env"
bash "$services" stop "$dir" && r=0 || r=1
ok "$r" "stop is safe to repeat"

echo "1..$n"
[ "$failed" = 0 ]
