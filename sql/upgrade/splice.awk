# splice.awk: the upgrade script of the version under development, from
# its own file of changes (sql/upgrade/<version>.sql), with the
# definitions it names taken from the install pieces rather than written
# twice.  A line
#
#	--@ copy PIECE NAME		the statement that creates NAME in
#							sql/install/PIECE, as it is there (a kind of
#							object of one word or more: FUNCTION, EVENT
#							TRIGGER);
#	--@ replace PIECE NAME	the same with CREATE turned into CREATE OR
#							REPLACE (a function or view that changed);
#
# stands for that statement with what follows it up to the next blank line
# outside a $$-quoted body (its COMMENT, REVOKE and GRANT lines).  Every
# other line is copied as it is.  Usage: awk -f splice.awk CHANGES > SCRIPT
function splice(mode, piece, name,    file, line, started, quoted, n, found)
{
	file = "sql/install/" piece
	started = 0; quoted = 0; found = 0
	while ((getline line < file) > 0) {
		if (!started) {
			if (index(line, "CREATE ") != 1)
				continue
			n = line
			sub(/^CREATE (OR REPLACE )?([A-Z]+ )+/, "", n)
			if (index(n, name "(") != 1 && index(n, name " ") != 1 && n != name)
				continue
			started = 1; found = 1
			if (mode == "replace")
				sub(/^CREATE /, "CREATE OR REPLACE ", line)
		}
		else if (line == "" && !quoted)
			break
		print line
		n = gsub(/\$\$/, "$$", line)
		if (n % 2 == 1)
			quoted = !quoted
	}
	close(file)
	if (!found) {
		print "splice.awk: no CREATE of " name " in " file > "/dev/stderr"
		exit 1
	}
}

/^--@ / {
	if (NF != 4 || ($2 != "copy" && $2 != "replace")) {
		print "splice.awk: bad line " FNR ": " $0 > "/dev/stderr"
		exit 1
	}
	splice($2, $3, $4)
	print ""
	next
}
{ print }
