#!/bin/bash
# bench/docs.sh FILE OUTPUT [TARGET]: put the OUTPUT of make TARGET (make
# bench by default), verbatim, in FILE between its two marker lines (the
# block's own lines are replaced, the rest of FILE is kept). make bench
# calls it with docs/performance.md, make bench-cooperation with
# docs/cooperation.md, so the figures there are always the latest run's,
# never retyped.
set -eu
doc=$1 out=$2 target=${3:-bench}
begin="<!-- make $target: begin. bench/docs.sh writes this block from the latest run; do not edit it by hand. -->"
end="<!-- make $target: end -->"
grep -qxF "$begin" "$doc" && grep -qxF "$end" "$doc" || {
	echo "$doc: no make bench markers (a line each: $begin / $end)" >&2
	exit 1
}
tmp=$(mktemp "$doc.XXXXXX")
awk -v begin="$begin" -v end="$end" -v out="$out" '
	$0 == begin { print; print "```text"; while ((getline l < out) > 0) print l; print "```"; skip = 1; next }
	$0 == end { skip = 0 }
	!skip { print }' "$doc" >"$tmp"
chmod --reference="$doc" "$tmp"
mv "$tmp" "$doc"
