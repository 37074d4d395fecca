#!/usr/bin/env bash
# services.sh: a private MariaDB + Redis pair for tests and local runs.
#
#   services.sh start DIR [--demo] [--watch PID]   start both in DIR, load the schema (+ demo data)
#   services.sh stop DIR                           stop both and the watchdog (safe to repeat)
#   services.sh stop-mysql DIR                     stop only MariaDB (tests of "database down")
#   services.sh start-mysql DIR                    start MariaDB again on the same datadir/socket
#   services.sh stop-redis DIR                     stop only Redis (tests of "Redis restarted")
#   services.sh start-redis DIR                    start Redis again on the same socket (empty)
#   services.sh clean DIR                          stop, then delete DIR
#
# Layout of DIR: mysql/ (datadir), mysql.sock, mysql.pid, mysql.log, redis.sock, redis.pid,
# redis.log, watchdog.pid (sockets go elsewhere if DIR is too deep, see socket_dir), services.env (MYSQL_SOCKET, MYSQL_USER, MYSQL_PASSWORD,
# MYSQL_DATABASE, REDIS_SOCKET; absolute paths) for the caller to read once `start` exits 0.
#
# Nothing listens on TCP: MariaDB runs with --skip-networking and Redis with port 0, so any
# number of pairs can run side by side (make -j check) without port clashes.
#
# Speed: initialising a MariaDB datadir and loading the schema costs ~1.5 s, so it is done once
# into a template (IMGATE_SERVICES_CACHE, default $top_builddir/t/tmp/mysql-template, else next
# to DIR) and each new DIR gets a copy. The template is rebuilt when the schema, a migration,
# db-load, the server version or the server options below change (checksum file), under flock so
# parallel tests neither race nor copy a half-built template.
#
# Environment: IMGATE_SERVICES_CACHE (template dir), IMGATE_SERVICES_TIMEOUT (seconds to wait for
# a server to answer, default 30).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
self=$here/$(basename "$0")
top=$(cd "$here/../.." && pwd)
dbload=$top/scripts/db-load

timeout=${IMGATE_SERVICES_TIMEOUT:-30}
database=teamtalk

# Server options that shape the on-disk datadir; used for the template (mariadb-install-db) and
# every run, and part of the template checksum. Sized for tests: a small buffer pool and redo
# log, no doublewrite and a lazy log flush (trx_commit=2: fine for throw-away test data, never
# for production).
innodb_opts=(
	--innodb-buffer-pool-size=64M
	--innodb-log-file-size=8M
	--innodb-flush-log-at-trx-commit=2
	--innodb-doublewrite=0
	--innodb-temp-data-file-path=ibtmp1:1M:autoextend
	--innodb-autoextend-increment=4
	--innodb-buffer-pool-load-at-startup=0
	--innodb-buffer-pool-dump-at-shutdown=0
)
# Run-time only options (paths are added per instance).
mysqld_opts=(
	--skip-networking
	--skip-name-resolve
	--character-set-server=utf8mb4
	--collation-server=utf8mb4_general_ci
	--performance-schema=OFF
	--aria-pagecache-buffer-size=8M
	--key-buffer-size=1M
	--max-connections=300
)

die() {
	echo "services.sh: $*" >&2
	exit 1
}

usage() {
	sed -n 's/^#   services.sh /usage: services.sh /p' "$self" >&2
	exit 2
}

# True while PID runs. A zombie counts as gone: in some containers PID 1 reaps orphans slowly,
# and a zombie has already released its sockets and files.
alive() {
	local state
	[ -n "${1:-}" ] || return 1
	state=$(sed -n 's/^.*) \([A-Za-z]\).*/\1/p' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# True if PID runs and its command line contains NEEDLE: guards against signalling an unrelated
# process that reused a pid recorded in a stale pid file.
alive_as() {
	alive "$1" && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$2"
}

pid_from() { [ -r "$1" ] && tr -dc '0-9' <"$1" || true; }

# spawn CMD...: start CMD in a new session, detached from our stdin/stdout/stderr and every other
# inherited descriptor (a held flock, or the pipe of a test harness that waits for EOF), so it
# outlives us and never blocks whoever reads our output. Sets $spawned.
spawn() {
	(
		for fd in /proc/$BASHPID/fd/*; do
			fd=${fd##*/}
			[ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null
		done
		exec setsid "$@" </dev/null >/dev/null 2>&1
	) &
	spawned=$!
}

# Print the end of a log for the error messages.
log_tail() { [ -r "$1" ] && tail -n 20 "$1" | sed 's/^/    /' >&2 || true; }

# Send TERM, wait up to 10 s, then KILL. $1 pid, $2 what (for messages).
terminate() {
	local pid=$1 i
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 200; i++)); do
		alive "$pid" || return 0
		sleep 0.05
	done
	echo "services.sh: $2 (pid $pid) ignored SIGTERM for 10 s, killing it" >&2
	kill -KILL "$pid" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		alive "$pid" || return 0
		sleep 0.05
	done
}

# ---------------------------------------------------------------------------------------------
# MariaDB

mysqld_bin() {
	command -v mariadbd || command -v mysqld || PATH=$PATH:/usr/sbin:/usr/libexec command -v mariadbd ||
		PATH=$PATH:/usr/sbin:/usr/libexec command -v mysqld || die "mariadbd not found (install mariadb-server)"
}

# launch_mysqld DATADIR SOCKET PIDFILE LOG: start mariadbd and wait until it answers.
launch_mysqld() {
	local datadir=$1 sock=$2 pidfile=$3 log=$4 pid i
	# The kernel limits unix socket paths to 107 bytes; fail clearly instead of a cryptic error.
	[ ${#sock} -le 107 ] || die "socket path too long (${#sock} > 107 bytes): $sock"
	rm -f "$sock" "$sock.lock"
	spawn "$(mysqld_bin)" --no-defaults --user=root --datadir="$datadir" --socket="$sock" \
		--pid-file="$pidfile" --log-error="$log" "${innodb_opts[@]}" "${mysqld_opts[@]}"
	pid=$spawned
	echo "$pid" >"$pidfile"
	for ((i = 0; i < timeout * 20; i++)); do
		if mariadb-admin --no-defaults --protocol=socket --socket="$sock" --user=root \
			--connect-timeout=2 ping >/dev/null 2>&1; then
			return 0
		fi
		if ! alive "$pid" && ! alive "$(pid_from "$pidfile")"; then
			echo "services.sh: MariaDB exited during startup; see $log:" >&2
			log_tail "$log"
			exit 1
		fi
		sleep 0.05
	done
	echo "services.sh: MariaDB did not answer on $sock within ${timeout}s; see $log:" >&2
	log_tail "$log"
	terminate "$pid" MariaDB
	exit 1
}

# stop_mysqld DATADIR PIDFILE SOCKET
stop_mysqld() {
	local pid
	pid=$(pid_from "$2")
	if alive_as "$pid" "--datadir=$1"; then
		terminate "$pid" MariaDB
	fi
	rm -f "$2" "$3" "$3.lock"
}

# Where the template lives: explicit, else the build tree, else next to DIR.
template_dir() {
	if [ -n "${IMGATE_SERVICES_CACHE:-}" ]; then
		echo "$IMGATE_SERVICES_CACHE"
	elif [ -n "${top_builddir:-}" ]; then
		echo "$top_builddir/t/tmp/mysql-template"
	else
		echo "$(dirname "$1")/.mysql-template"
	fi
}

# Everything the template's content depends on.
template_checksum() {
	{
		"$(mysqld_bin)" --version
		printf '%s\n' "${innodb_opts[@]}"
		cat "$top/sql/schema.sql" "$dbload"
		for f in "$top"/sql/migrations/*.sql; do
			[ -e "$f" ] || continue
			printf '== %s\n' "${f##*/}"
			cat "$f"
		done
	} | sha256sum | cut -d' ' -f1
}

# build_template DIR SUM: initialise a datadir and load the schema into DIR/mysql. Called with the
# template lock held; builds aside and renames, so an interrupted build leaves no half template.
build_template() {
	local tpl=$1 sum=$2 tmp rundir
	tmp=$tpl.build.$$
	rm -rf "$tmp" "$tpl".build.*
	mkdir -p "$tmp"
	# The socket lives in a short private directory: the template path may be long.
	rundir=$(mktemp -d -t imgate-tpl.XXXXXX)
	if ! mariadb-install-db --no-defaults --user=root --datadir="$tmp/mysql" \
		--auth-root-authentication-method=normal --skip-test-db --skip-name-resolve \
		"${innodb_opts[@]}" >"$tmp/install.log" 2>&1; then
		echo "services.sh: mariadb-install-db failed; see $tmp/install.log:" >&2
		log_tail "$tmp/install.log"
		rm -rf "$rundir"
		exit 1
	fi
	launch_mysqld "$tmp/mysql" "$rundir/mysql.sock" "$rundir/mysql.pid" "$tmp/mysql.log"
	if ! bash "$dbload" --socket "$rundir/mysql.sock" --user root --password '' \
		--database "$database" >"$tmp/db-load.log" 2>&1; then
		stop_mysqld "$tmp/mysql" "$rundir/mysql.pid" "$rundir/mysql.sock"
		rm -rf "$rundir"
		echo "services.sh: loading the schema into the template failed; see $tmp/db-load.log:" >&2
		log_tail "$tmp/db-load.log"
		exit 1
	fi
	# A clean shutdown leaves a consistent datadir that every copy starts without recovery.
	stop_mysqld "$tmp/mysql" "$rundir/mysql.pid" "$rundir/mysql.sock"
	rm -rf "$rundir"
	echo "$sum" >"$tmp/checksum"
	rm -rf "$tpl"
	mv "$tmp" "$tpl"
}

# copy_template DIR: make sure the template is current, then copy it to DIR/mysql.
copy_template() {
	local dir=$1 tpl sum
	tpl=$(template_dir "$dir")
	mkdir -p "$(dirname "$tpl")"
	sum=$(template_checksum)
	# One lock for check, build and copy: the copy takes a few tens of milliseconds, so
	# serialising it is cheaper than the bookkeeping of a shared/exclusive scheme.
	exec {lockfd}>"$tpl.lock"
	flock -w $((timeout * 4)) "$lockfd" || die "timed out waiting for the template lock $tpl.lock"
	if [ ! -d "$tpl/mysql" ] || [ "$(cat "$tpl/checksum" 2>/dev/null)" != "$sum" ]; then
		build_template "$tpl" "$sum"
	fi
	rm -rf "$dir/mysql.new"
	cp -a --reflink=auto "$tpl/mysql" "$dir/mysql.new"
	mv "$dir/mysql.new" "$dir/mysql"
	exec {lockfd}>&-
}

start_mysql() {
	local dir=$1 fresh=0
	if alive_as "$(pid_from "$dir/mysql.pid")" "--datadir=$dir/mysql"; then
		return 0
	fi
	if [ ! -d "$dir/mysql/mysql" ]; then
		rm -rf "$dir/mysql"
		copy_template "$dir"
		fresh=1
	fi
	launch_mysqld "$dir/mysql" "$sd/mysql.sock" "$dir/mysql.pid" "$dir/mysql.log"
	# A fresh copy already holds the current schema; an older datadir (a local run's var/) gets
	# the migrations it has not seen yet.
	loaded_fresh=$fresh
}

# ---------------------------------------------------------------------------------------------
# Redis

start_redis() {
	local dir=$1 sock=$sd/redis.sock pid i
	if alive_as "$(pid_from "$dir/redis.pid")" "$sock"; then
		return 0
	fi
	[ ${#sock} -le 107 ] || die "socket path too long (${#sock} > 107 bytes): $sock"
	rm -f "$sock"
	# No TCP (port 0), no persistence: state lives only as long as the process.
	spawn redis-server --port 0 --unixsocket "$sock" --unixsocketperm 700 \
		--save '' --appendonly no --daemonize no --dir "$dir" \
		--pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
	pid=$spawned
	echo "$pid" >"$dir/redis.pid"
	for ((i = 0; i < timeout * 20; i++)); do
		if [ "$(redis-cli -s "$sock" ping 2>/dev/null)" = PONG ]; then
			return 0
		fi
		if ! alive "$pid" && ! alive "$(pid_from "$dir/redis.pid")"; then
			echo "services.sh: Redis exited during startup; see $dir/redis.log:" >&2
			log_tail "$dir/redis.log"
			exit 1
		fi
		sleep 0.05
	done
	echo "services.sh: Redis did not answer on $sock within ${timeout}s; see $dir/redis.log:" >&2
	log_tail "$dir/redis.log"
	terminate "$pid" Redis
	exit 1
}

stop_redis() {
	local dir=$1 pid
	pid=$(pid_from "$dir/redis.pid")
	if alive_as "$pid" "$sd/redis.sock"; then
		terminate "$pid" Redis
	fi
	rm -f "$dir/redis.pid" "$sd/redis.sock"
}

# ---------------------------------------------------------------------------------------------
# Watchdog

stop_watchdog() {
	local dir=$1 pid
	pid=$(pid_from "$dir/watchdog.pid")
	if [ -n "$pid" ] && [ "$pid" != $$ ] && alive_as "$pid" "__watchdog $dir "; then
		kill -TERM "$pid" 2>/dev/null || true
	fi
	rm -f "$dir/watchdog.pid"
}

start_watchdog() {
	local dir=$1 watched=$2
	stop_watchdog "$dir"
	spawn bash "$self" __watchdog "$dir" "$watched"
	echo "$spawned" >"$dir/watchdog.pid"
}

# Runs detached: once the watched process is gone, stop this DIR's servers and nothing else.
watchdog() {
	local dir=$1 watched=$2
	sd=$(socket_dir "$dir")
	while alive "$watched" && [ -d "$dir" ]; do
		sleep 1
	done
	[ -d "$dir" ] || exit 0
	stop_all "$dir"
}

stop_all() {
	local dir=$1
	stop_watchdog "$dir"
	stop_mysqld "$dir/mysql" "$dir/mysql.pid" "$sd/mysql.sock"
	stop_redis "$dir"
	rm -f "$dir/services.env"
}

# ---------------------------------------------------------------------------------------------

# socket_dir DIR [create]: where DIR's sockets live. Normally DIR itself; when DIR is too deep
# for the 107-byte unix socket path limit (a CI checkout in a long path), a short private
# directory under $TMPDIR that DIR/run links to (made with "create", removed by clean).
socket_dir() {
	local dir=$1 short
	if [ -L "$dir/run" ]; then
		short=$(readlink "$dir/run")
		[ "${2:-}" != create ] || mkdir -p "$short"
		echo "$short"
	elif [ $((${#dir} + 12)) -le 107 ] || [ "${2:-}" != create ]; then
		echo "$dir"
	else
		short=$(mktemp -d -t imgate-sock.XXXXXX)
		ln -s "$short" "$dir/run"
		echo "$short"
	fi
}

# EXIT trap of start: undo a half-done start.
start_failed() {
	[ "$1" = 0 ] || stop_all "$dir"
	exit "$1"
}

# absolute DIR, created if needed.
abs_dir() {
	mkdir -p "$1" && (cd "$1" && pwd)
}

[ $# -ge 2 ] || usage
cmd=$1
shift

case $cmd in
start)
	dir=$(abs_dir "$1")
	sd=$(socket_dir "$dir" create)
	shift
	demo=0 watch=
	while [ $# -gt 0 ]; do
		case $1 in
		--demo) demo=1; shift ;;
		--watch) watch=${2:?--watch needs a pid}; shift 2 ;;
		*) usage ;;
		esac
	done
	if [ -n "$watch" ]; then
		alive "$watch" || die "--watch $watch: no such process"
		# Started first so that even a start that fails half-way is cleaned up.
		start_watchdog "$dir" "$watch"
	fi
	# A start that fails half-way must not leave the other server running.
	trap 'start_failed $?' EXIT
	loaded_fresh=0
	start_redis "$dir"
	start_mysql "$dir"
	if [ "$loaded_fresh" = 0 ] || [ "$demo" = 1 ]; then
		load_args=(--socket "$sd/mysql.sock" --user root --password '' --database "$database")
		[ "$demo" = 0 ] || load_args+=(--demo)
		bash "$dbload" "${load_args[@]}" >"$dir/db-load.log" 2>&1 || {
			echo "services.sh: db-load failed; see $dir/db-load.log:" >&2
			log_tail "$dir/db-load.log"
			exit 1
		}
	fi
	# Written last, through a rename: its presence means "ready".
	cat >"$dir/services.env.tmp" <<-EOF
		MYSQL_SOCKET=$sd/mysql.sock
		MYSQL_USER=root
		MYSQL_PASSWORD=
		MYSQL_DATABASE=$database
		REDIS_SOCKET=$sd/redis.sock
	EOF
	mv "$dir/services.env.tmp" "$dir/services.env"
	trap - EXIT
	;;
stop)
	[ -d "$1" ] || exit 0
	dir=$(abs_dir "$1")
	sd=$(socket_dir "$dir")
	stop_all "$dir"
	;;
stop-mysql)
	[ -d "$1" ] || exit 0
	dir=$(abs_dir "$1")
	sd=$(socket_dir "$dir")
	stop_mysqld "$dir/mysql" "$dir/mysql.pid" "$sd/mysql.sock"
	;;
start-mysql)
	dir=$(abs_dir "$1")
	sd=$(socket_dir "$dir" create)
	[ -d "$dir/mysql/mysql" ] || die "$dir has no MariaDB datadir; use: services.sh start $dir"
	start_mysql "$dir"
	;;
stop-redis)
	[ -d "$1" ] || exit 0
	dir=$(abs_dir "$1")
	sd=$(socket_dir "$dir")
	stop_redis "$dir"
	;;
start-redis)
	dir=$(abs_dir "$1")
	sd=$(socket_dir "$dir" create)
	start_redis "$dir"
	;;
clean)
	[ -d "$1" ] || exit 0
	dir=$(abs_dir "$1")
	sd=$(socket_dir "$dir")
	stop_all "$dir"
	[ "$sd" = "$dir" ] || rm -rf "$sd"
	rm -rf "$dir"
	;;
__watchdog)
	watchdog "$1" "$2"
	;;
*)
	usage
	;;
esac
