#!/usr/bin/env bash
# A throwaway PostgreSQL server for atlite's tests.
#
#   eval "$(bash .ci/postgres.sh start)"   # prints the export lines below
#   go test ./...                          # runs the Postgres half of the matrix too
#   bash .ci/postgres.sh stop              # stops it and deletes its directory
#
# start makes a new cluster (initdb) in a temporary directory and runs it on
# a loopback port (ATLITE_PG_PORT, default 55432; the next free one if that
# is taken), with its unix socket in the same directory and trust
# authentication, so nothing outside the directory changes. It prints, on
# stdout and nothing else:
#   export ATLITE_TEST_POSTGRES='postgres://postgres@127.0.0.1:PORT/postgres?sslmode=disable'
#   export ATLITE_PG_DIR='/tmp/atlite-pg.XXXXXX'
# stop [DIR] stops the server of DIR (default $ATLITE_PG_DIR) and removes DIR.
#
# The binaries come from Debian's packages (/usr/lib/postgresql/15/bin, or
# PG_BINDIR): when initdb is missing, start runs apt-get install postgresql,
# which needs root. As root the server runs as the postgres user (initdb
# refuses root); otherwise as the calling user. The cluster is for tests
# only: fsync is off, so a machine crash may lose it (a killed client or
# server process may not).
set -euo pipefail

log() { echo "postgres.sh: $*" >&2; }

bindir() {
	local d=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
	if [[ ! -x $d/initdb ]]; then
		if [[ $(id -u) != 0 ]]; then
			log "no initdb in $d, and installing postgresql needs root"
			return 1
		fi
		log "installing postgresql from Debian's packages"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq >&2
		apt-get install -y -qq postgresql >&2
	fi
	if [[ ! -x $d/initdb ]]; then
		# Another Debian release ships another major version.
		local found
		found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
		if [[ -z $found || ! -x $found/initdb ]]; then
			log "no initdb under /usr/lib/postgresql after installing postgresql"
			return 1
		fi
		log "no initdb in $d, using $found"
		d=$found
	fi
	echo "$d"
}

# as runs a command as the cluster's owner.
as() {
	if [[ $(id -u) == 0 ]]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# PGDIR and PGBIN are global: the EXIT trap of a failed start reads them.
PGDIR=
PGBIN=

start() {
	local port tries
	PGBIN=$(bindir)
	PGDIR=$(mktemp -d "${TMPDIR:-/tmp}/atlite-pg.XXXXXX")
	chmod 755 "$PGDIR"
	if [[ $(id -u) == 0 ]]; then
		chown postgres: "$PGDIR"
	fi
	# Undo a half-made start; disarmed once the server is up.
	trap 'as "$PGBIN/pg_ctl" -D "$PGDIR/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$PGDIR"' EXIT
	as "$PGBIN/initdb" -D "$PGDIR/data" -U postgres --auth=trust --encoding=UTF8 --locale=C --no-sync >"$PGDIR/initdb.log" 2>&1 || {
		cat "$PGDIR/initdb.log" >&2
		log "initdb failed"
		return 1
	}
	port=${ATLITE_PG_PORT:-55432}
	for tries in $(seq 1 20); do
		if port_busy "$port"; then
			port=$((port + 1))
			continue
		fi
		# -w waits until the server accepts connections (or 60 s).
		if as "$PGBIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/server.log" -w -t 60 \
			-o "-c listen_addresses=127.0.0.1 -p $port -k $PGDIR -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
			start >&2; then
			break
		fi
		tail -n 20 "$PGDIR/server.log" >&2 || true
		if ! grep -q "could not bind\|already in use" "$PGDIR/server.log" 2>/dev/null; then
			log "pg_ctl start failed"
			return 1
		fi
		port=$((port + 1)) # another server took the port meanwhile
	done
	if ! "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$port" -t 30; then
		log "server in $PGDIR does not answer on 127.0.0.1:$port"
		return 1
	fi
	trap - EXIT
	log "PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') ready on 127.0.0.1:$port, data in $PGDIR"
	echo "export ATLITE_TEST_POSTGRES='postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable'"
	echo "export ATLITE_PG_DIR='$PGDIR'"
}

stop() {
	local dir=${1:-${ATLITE_PG_DIR:-}} bin
	if [[ -z $dir ]]; then
		log "stop: no directory (argument or ATLITE_PG_DIR)"
		return 1
	fi
	if [[ ! -d $dir/data ]]; then
		log "stop: $dir holds no cluster"
		return 1
	fi
	bin=$(bindir)
	as "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >&2 || true
	rm -rf "$dir"
	log "stopped and removed $dir"
}

case ${1:-} in
start) start ;;
stop) stop "${2:-}" ;;
*)
	echo "usage: $0 start | stop [DIR]" >&2
	exit 2
	;;
esac
