#!/bin/sh
# make deb: build maxwell_VERSION_amd64.deb in the current directory (or
# $OUT) with nfpm, taken from the Go module proxy. The version is the
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
go build -trimpath -buildmode=pie -ldflags "-s -w -X main.version=$VERSION" -o "$STAGE/maxwell" ./cmd/maxwell

# The newest glibc symbol version the binary needs.
LIBC=$(objdump -T "$STAGE/maxwell" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -t. -k1,1n -k2,2n | tail -1)

# The configuration: every key commented out at its default, but the
# four the package's layout needs.
awk '
NR == 1 { print "# /etc/maxwell/maxwell.toml -- the Debian package sets the four keys below"
	print "# that its layout needs (uncommented); every other key is commented out"
	print "# at its default. Check a change with `maxwell config check`, then"
	print "# `systemctl reload maxwell`. man maxwell.toml(5) explains every key."
	next }
NR <= 7 { next }
{ print }
/^# socket = /       { print "socket = \"unix:/var/spool/postfix/maxwell/maxwell.sock\"" }
/^# socket_group = / { print "socket_group = \"postfix\"" }
/^# datadir = /      { print "datadir = \"/var/lib/maxwell\"" }
/^# mail_log = /     { print "mail_log = \"/var/log/maxwell/mail.log\"" }
' maxwell.toml.example >"$STAGE/maxwell.toml"
[ "$(grep -c '^[a-z_]* = ' "$STAGE/maxwell.toml")" = 4 ] || { echo "build.sh: maxwell.toml.example changed shape: not 4 keys set" >&2; exit 1; }

go run ./packaging/mkman -name maxwell -section 8 -what "mail-policy milter for Postfix and Sendmail" \
	-manual "System Manager's Manual" <docs/maxwell.8.md | gzip -9n >"$STAGE/maxwell.8.gz"
go run ./packaging/mkman -name maxwell.toml -section 5 -what "configuration file of maxwell(8)" \
	-manual "File Formats Manual" <docs/configuration.md | gzip -9n >"$STAGE/maxwell.toml.5.gz"

mkdir -m 0755 "$STAGE/doc"
cp README.md docs/*.md "$STAGE/doc/"
rm "$STAGE/doc/maxwell.8.md" # it is the man page
cp maxwell.toml.example "$STAGE/doc/"
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
