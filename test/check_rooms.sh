#!/usr/bin/env bash
# test/check_rooms.sh: how the C files of src/ depend on each other.
# Prints TAP lines for four checks, run by `make test` after the build:
#
#   1. no include circle: a file of room a (a.c, a.h) includes y.h of
#      room y, and no chain of such includes leads from y back to a;
#   2. no call circle: the object files, read with nm, use each other's
#      symbols in one direction only;
#   3. nothing extern without a caller elsewhere: every function or
#      variable an object file exports is used by another object file
#      (fmgr entry points, which PostgreSQL calls, excepted);
#   4. every header declares its own file's functions only: what src/x.h
#      declares extern, src/x.o defines (no header of several rooms).
#
# The circles are found by a transitive closure over the rooms (a few
# dozen), in awk: no tool beyond what a fresh machine has.
set -u
cd "$(dirname "$0")/.."

n=0
result() { # result OK DESCRIPTION [DETAIL]
	n=$((n + 1))
	if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; [ -n "${3:-}" ] && echo "# $3"; fi
}

# circles EDGES: the pairs of nodes that reach each other, from lines "a b"
circles() {
	awk '{ node[$1]; node[$2]; if ($1 != $2) r[$1, $2] = 1 }
	     END {
	         for (k in node) for (i in node) if ((i, k) in r) for (j in node) if ((k, j) in r) r[i, j] = 1
	         for (i in node) for (j in node) if (i < j && (i, j) in r && (j, i) in r) printf "%s <-> %s; ", i, j
	     }' "$1"
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# 1. includes: room of a file is its name without .c/.h
for f in src/*.c src/*.h; do
	room=$(basename "$f"); room=${room%.*}
	sed -n 's/^#include "\([a-z_0-9]*\)\.h".*/\1/p' "$f" | while read -r dep; do
		[ -f "src/$dep.h" ] && echo "$room $dep"
	done
done >"$tmp/includes"
c=$(circles "$tmp/includes")
result "$([ -z "$c" ] && echo 0 || echo 1)" "no include circle between the files of src/ ($(sort -u "$tmp/includes" | wc -l) include edges)" "$c"

# 2 and 3: symbols of the object files
objs=$(ls src/*.o 2>/dev/null)
if [ -z "$objs" ]; then
	result 1 "object files to read (build first)"
	exit 1
fi
for o in $objs; do
	room=$(basename "$o" .o)
	nm "$o" | awk -v r="$room" '$2 ~ /^[TDBR]$/ { print "def", r, $3 } $1 == "U" { print "use", r, $2 }'
done >"$tmp/symbols"
awk '$1 == "def" { d[$3] = $2 } $1 == "use" { u[NR] = $2 " " $3 }
     END { for (k in u) { split(u[k], p, " "); if ((p[2] in d) && d[p[2]] != p[1]) print p[1], d[p[2]] } }' \
	"$tmp/symbols" | sort -u >"$tmp/calls"
c=$(circles "$tmp/calls")
result "$([ -z "$c" ] && echo 0 || echo 1)" "no call circle between the object files of src/ ($(wc -l <"$tmp/calls") file-to-file uses)" "$c"

lonely=$(awk '$1 == "def" { d[$3] = $2 } $1 == "use" { used[$3, $2] = 1; users[$3] = users[$3] " " $2 }
	END {
	    for (s in d) {
	        if (s ~ /^pg_finfo_/ || s == "Pg_magic_func" || s == "_PG_init" || ("pg_finfo_" s) in d) continue
	        n = split(users[s], us, " "); other = 0
	        for (i = 1; i <= n; i++) if (us[i] != d[s]) other = 1
	        if (!other) printf "%s (%s.c) ", s, d[s]
	    }
	}' "$tmp/symbols")
result "$([ -z "$lonely" ] && echo 0 || echo 1)" "every extern function or variable of src/ has a caller in another file" "$lonely"

strays=$(for h in src/*.h; do
	room=$(basename "$h" .h)
	sed -n 's/^extern[^(]*[ *]\([a-z_0-9]*\)(.*/\1/p' "$h" | while read -r fn; do
		grep -q "^def $room $fn\$" "$tmp/symbols" || printf '%s (%s) ' "$fn" "$h"
	done
done)
result "$([ -z "$strays" ] && echo 0 || echo 1)" "every function a header of src/ declares is defined by its own .c" "$strays"
