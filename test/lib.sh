# test/lib.sh: set-up shared by `make test`, `make demo` and `make bench`.
#
# Sourced by test/run.sh.  Installs what a fresh machine lacks, builds and
# installs the extension, and runs a throwaway PostgreSQL cluster on a Unix
# socket in a private temporary directory (so no port can clash), started
# as the postgres user when we are root, and removed on exit whatever
# happens.

PG_MAJOR=15
DEB_PACKAGES="postgresql-server-dev-$PG_MAJOR postgresql-$PG_MAJOR-pgtap libtap-parser-sourcehandler-pgtap-perl"
# PG_BINDIR may point at another (relocated) PostgreSQL 15 installation, so
# that several checkouts can build, install and test side by side
PG_BINDIR=${PG_BINDIR:-/usr/lib/postgresql/$PG_MAJOR/bin}
export PATH="$PG_BINDIR:$PATH"

say() { printf '%s\n' "$*"; }
die() { printf 'crm: %s\n' "$*" >&2; exit 1; }

# What is missing for build and tests: the server headers, pgTAP and
# pg_prove.  $1 = "test" also needs pgTAP; demo and bench need only the headers.
missing_packages() {
	local need=() inc
	# pgxs.mk ships with the client package; the server headers do not
	inc=$("$PG_BINDIR/pg_config" --includedir-server 2>/dev/null)
	[ -n "$inc" ] && [ -f "$inc/postgres.h" ] || need+=("postgresql-server-dev-$PG_MAJOR")
	if [ "$1" = test ]; then
		[ -f "$("$PG_BINDIR/pg_config" --sharedir 2>/dev/null)/extension/pgtap.control" ] || need+=("postgresql-$PG_MAJOR-pgtap")
		command -v pg_prove >/dev/null 2>&1 || need+=(libtap-parser-sourcehandler-pgtap-perl)
	fi
	printf '%s\n' "${need[@]}"
}

ensure_packages() {
	local need
	need=$(missing_packages "$1" | xargs)
	[ -z "$need" ] && return 0
	if [ "$(id -u)" != 0 ]; then
		say "crm: missing Debian packages. Install them as root, then run this again:"
		say "  apt-get update && apt-get install -y $need"
		exit 1
	fi
	say "crm: installing $need"
	apt-get update -qq >/dev/null || die "apt-get update failed"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null ||
		die "apt-get install $need failed"
}

# Build with warnings counted (a warning is a defect) and install.
BUILD_WARNINGS=0
build_install() {
	local log
	log=$(mktemp)
	make -s -B PG_CONFIG="$PG_BINDIR/pg_config" >/dev/null 2>"$log" || { cat "$log" >&2; die "build failed"; }
	BUILD_WARNINGS=$(grep -c 'warning:' "$log" || true)
	[ "$BUILD_WARNINGS" = 0 ] || cat "$log" >&2
	rm -f "$log"
	if [ "$(id -u)" = 0 ]; then
		make -s PG_CONFIG="$PG_BINDIR/pg_config" install >/dev/null || die "make install failed"
	else
		make -s PG_CONFIG="$PG_BINDIR/pg_config" install >/dev/null 2>&1 ||
			die "make install failed: run as root, or as a user who can write to $("$PG_BINDIR/pg_config" --sharedir)"
	fi
}

# as_pg CMD...: run a server-side command as the cluster's owner.
as_pg() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

CLUSTER_DIR=
cluster_stop() {
	[ -n "$CLUSTER_DIR" ] || return 0
	as_pg pg_ctl -D "$CLUSTER_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
	rm -rf "$CLUSTER_DIR"
	CLUSTER_DIR=
}

# cluster_start [postgres -c settings...]
cluster_start() {
	local opts="" kv
	CLUSTER_DIR=$(mktemp -d /tmp/crm-cluster.XXXXXX)
	trap cluster_stop EXIT
	trap 'exit 130' INT TERM
	chmod 755 "$CLUSTER_DIR"
	[ "$(id -u)" = 0 ] && chown postgres: "$CLUSTER_DIR"
	export PGHOST="$CLUSTER_DIR" PGPORT=$((50000 + $$ % 10000)) PGUSER=postgres PGDATABASE=postgres
	as_pg initdb -D "$CLUSTER_DIR/data" -U postgres --auth=trust --no-sync -E UTF8 --locale=C >"$CLUSTER_DIR/initdb.log" 2>&1 ||
		{ cat "$CLUSTER_DIR/initdb.log" >&2; die "initdb failed"; }
	for kv in "listen_addresses=''" "unix_socket_directories='$CLUSTER_DIR'" "port=$PGPORT" \
		"fsync=off" "synchronous_commit=off" "full_page_writes=off" "$@"; do
		printf '%s\n' "$kv" >>"$CLUSTER_DIR/data/postgresql.conf"
	done
	as_pg pg_ctl -D "$CLUSTER_DIR/data" -l "$CLUSTER_DIR/server.log" -w start >/dev/null ||
		{ cat "$CLUSTER_DIR/server.log" >&2; die "the server did not start"; }
}

psql_q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }
