#!/bin/sh
# make deb: build maxwell_VERSION_amd64.deb in the source tree's top
# directory (or $OUT, relative to it) with nfpm, taken from the Go module
# proxy. Needs Go, gcc (cgo: the binary uses the C library's resolver
# and user lookups), binutils (objdump) and git. The version is the
# tag's (v1.2.3 → 1.2.3), or 0.0~gitDATE.COMMIT without one. The man
# pages are made from docs/maxwell.8.md and docs/configuration.md
# (packaging/mkman); /etc/maxwell/maxwell.toml is maxwell.toml.example
# with the package's paths set.
set -eu
cd "$(dirname "$0")/../.."
NFPM=github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.45.2
OUT=${OUT:-.}

commit=$(git rev-parse --short HEAD)
if tag=$(git describe --tags --exact-match 2>/dev/null); then
	VERSION=${tag#v}
else
	VERSION=0.0~git$(git log -1 --format=%cd --date=format:%Y%m%d).$commit
fi
git diff --quiet HEAD 2>/dev/null || echo "note: the tree has uncommitted changes; the package says $VERSION" >&2

STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
CGO_ENABLED=1 GOOS=linux GOARCH=amd64 go build -trimpath -buildmode=pie \
	-ldflags "-s -w -X main.version=$VERSION -extldflags=-Wl,-z,relro,-z,now" -o "$STAGE/maxwell" ./cmd/maxwell

# The newest glibc symbol version the binary needs, for Depends.
LIBC=$(objdump -T "$STAGE/maxwell" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -t. -k1,1n -k2,2n | tail -1)
[ -n "$LIBC" ] || { echo "build.sh: the binary names no glibc version (built without cgo?)" >&2; exit 1; }

# The configuration: every key commented out at its default, but the
# four the package's layout needs.
awk '
NR == 1 { print "# /etc/maxwell/maxwell.toml -- the Debian package sets the four keys below"
	print "# that its layout needs (uncommented); every other key is commented out"
	print "# at its default. Check a change with `sudo -u maxwell maxwell config check`,"
	print "# then `systemctl reload maxwell` (restart for the socket, datadir, [log]"
	print "# and [store]). man maxwell.toml(5) explains every key."
	next }
NR <= 7 { next }
{ print }
/^# socket = /       { print "socket = \"unix:/var/spool/postfix/maxwell/maxwell.sock\"" }
/^# socket_group = / { print "socket_group = \"postfix\"" }
/^# datadir = /      { print "datadir = \"/var/lib/maxwell\"" }
/^# mail_log = /     { print "mail_log = \"/var/log/maxwell/mail.log\"" }
' maxwell.toml.example >"$STAGE/maxwell.toml"
[ "$(grep -c '^[a-z_]* = ' "$STAGE/maxwell.toml")" = 4 ] || { echo "build.sh: maxwell.toml.example changed shape: not 4 keys set" >&2; exit 1; }

DATE=$(git log -1 --format=%cd --date=format:%Y-%m-%d)
go run ./packaging/mkman -name maxwell -section 8 -what "mail-policy milter for Postfix and Sendmail" \
	-manual "System Manager's Manual" -date "$DATE" <docs/maxwell.8.md | gzip -9n >"$STAGE/maxwell.8.gz"
go run ./packaging/mkman -name maxwell.toml -section 5 -what "configuration file of maxwell(8)" \
	-manual "File Formats Manual" -date "$DATE" <docs/configuration.md | gzip -9n >"$STAGE/maxwell.toml.5.gz"

mkdir -m 0755 "$STAGE/doc"
cp README.md docs/*.md "$STAGE/doc/"
rm "$STAGE/doc/maxwell.8.md" # it is the man page
cp maxwell.toml.example "$STAGE/doc/"
# The licences of the Go modules linked into the binary, which their
# terms ask to ship with it (the copyright file points here).
go version -m "$STAGE/maxwell" | awk '$1 == "dep" { print $2, $3 }' | while read -r mod ver; do
	d=$(go list -m -f '{{.Dir}}' "$mod@$ver" 2>/dev/null) || continue
	for l in "$d"/LICENSE* "$d"/LICENCE* "$d"/COPYING* "$d"/NOTICE*; do
		[ -f "$l" ] || continue
		printf '%s %s: %s\n\n' "$mod" "$ver" "$(basename "$l")"
		cat "$l"
		printf '\n\n'
	done
done >"$STAGE/doc/LICENSES.modules"
[ -s "$STAGE/doc/LICENSES.modules" ] || { echo "build.sh: no licence found for the Go modules" >&2; exit 1; }
for f in "$STAGE"/doc/*; do
	[ "$(stat -c %s "$f")" -gt 4096 ] && gzip -9n "$f"
done
{
	printf 'maxwell (%s) unstable; urgency=medium\n\n' "$VERSION"
	printf '  * Built from commit %s.\n\n' "$commit"
	printf ' -- maxwell maintainers <maintainers@users.noreply.h-seed-d65ff973.example>  %s\n' \
		"$(git log -1 --format=%cd --date=format:'%a, %d %b %Y %H:%M:%S %z')"
} | gzip -9n >"$STAGE/doc/changelog.gz"
chmod 0644 "$STAGE"/doc/*

sed -e "s|\${VERSION}|$VERSION|" -e "s|\${STAGE}|$STAGE|g" -e "s|\${LIBC}|$LIBC|" \
	packaging/deb/nfpm.yaml >"$STAGE/nfpm.yaml"
mkdir -p "$OUT"
go run "$NFPM" package -f "$STAGE/nfpm.yaml" -p deb -t "$OUT/maxwell_${VERSION}_amd64.deb" >&2
echo "$OUT/maxwell_${VERSION}_amd64.deb"
