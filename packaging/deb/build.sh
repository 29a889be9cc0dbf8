#!/usr/bin/env bash
# make deb: a Debian binary package of `make install PREFIX=/usr`, built
# with dpkg-deb from that staged tree, so the package holds exactly what
# make install lays out (one list of files, in the Makefile). Then
# lintian, which must report no error.
#
# The package is rcon-capcon, not rcon: Debian's archive has an "rcon"
# (a client for game servers' RCON protocol, also /usr/bin/rcon), and
# ours, under the same name with a lower version, would be "upgraded" to
# it by apt. It conflicts with that package for the same reason.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CGO_ENABLED=0

name=rcon-capcon
arch=$(dpkg --print-architecture)
rev=$(git rev-parse --short=12 HEAD)
when=$(TZ=UTC git log -1 --format=%cd --date=format-local:%Y%m%d%H%M%S)
dirty=
git diff --quiet HEAD -- 2>/dev/null || dirty=+dirty
# No release tags yet: 0.0~git<commit time>.<commit> sorts by time and
# below any real 0.1 release.
version=${DEB_VERSION:-0.0~git$when.$rev$dirty}
maintainer=${DEB_MAINTAINER:-rcon and capcon developers <rcon-capcon@example.org>}

out=build/deb
stage=$out/stage
rm -rf "$stage"
mkdir -p "$stage/DEBIAN"
make --no-print-directory install PREFIX=/usr DESTDIR="$PWD/$stage" >/dev/null

# Debian policy: man pages and changelogs gzipped (-n: no name or time
# in the header, so the package is reproducible); the copyright file in
# the package's doc directory, which Debian names after the package.
doc=$stage/usr/share/doc/$name
mv "$stage/usr/share/doc/rcon" "$doc"
gzip -9n "$stage"/usr/share/man/man*/*
date_rfc=$(LC_ALL=C date -u -R -d "@${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}")
cat >"$out/changelog.Debian" <<CHANGELOG
$name ($version) unstable; urgency=low

  * Built from commit $rev of rcon & capcon.

 -- $maintainer  $date_rfc
CHANGELOG
# A version without a Debian revision is a native package's: its
# changelog is changelog.gz.
gzip -9n <"$out/changelog.Debian" >"$doc/changelog.gz"
sed "s/@YEAR@/$(TZ=UTC git log -1 --format=%cd --date=format-local:%Y)/" packaging/deb/copyright >"$doc/copyright"
# The docs point to examples under /usr/share/doc/rcon/examples: keep
# that path working.
ln -s "$name" "$stage/usr/share/doc/rcon"
install -d "$stage/usr/share/lintian/overrides"
install -m 644 packaging/deb/lintian-overrides "$stage/usr/share/lintian/overrides/$name"

size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat >"$stage/DEBIAN/control" <<CONTROL
Package: $name
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $size
Conflicts: rcon
Section: admin
Priority: optional
Description: run commands under cgroup limits, or with pruned capabilities
 rcon runs a command in a fresh cgroup with a CPU quota, memory, pids and
 block-I/O limits, reports how it went (exit status, OOM kills,
 throttling) and removes the group when the command ends. It works on
 cgroup v1 (legacy and hybrid) and v2.
 .
 capcon runs a command with only the Linux capabilities it names, in all
 five sets, optionally as another user.
 .
 Both can unshare namespaces and read TOML profiles (rcon.toml(5)).
CONTROL
(cd "$stage" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | sort -z | xargs -0 md5sum) >"$stage/DEBIAN/md5sums"
find "$stage" -type d -exec chmod 755 {} +

deb=$out/${name}_${version}_$arch.deb
rm -f "$out"/*.deb
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
echo "$deb"
if command -v lintian >/dev/null; then
	# Errors fail the build; warnings are printed for the reader.
	lintian --fail-on error --tag-display-limit 0 "$deb"
else
	echo "deb: lintian not installed (apt-get install lintian): package not checked" >&2
	[ "${CI:-}" != true ]
fi
