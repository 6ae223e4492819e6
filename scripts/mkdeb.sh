#!/usr/bin/env bash
# mkdeb.sh - builds build/kiln_VERSION_ARCH.deb from `make install
# PREFIX=/usr` into a staging root, with dpkg-deb (no debian/ source
# package): binaries stripped (their debug info stays in the build), the
# kiln user made by postinst, /etc files as conffiles, dependencies from
# dpkg-shlibdeps' view of the binaries written out below. `make deb`.
set -eu
cd "$(dirname "$0")/.."
B=$(cd "${1:-build}" && pwd)
VERSION=${KILN_VERSION:-$(sed -n 's/^#define KILN_VERSION "\(.*\)"$/\1/p' common/version.h)}
ARCH=$(dpkg --print-architecture)
ROOT=$B/deb/root
rm -rf "$B/deb"
mkdir -p "$ROOT"
make -s install BUILD="$(basename "$B")" DESTDIR="$ROOT" PREFIX=/usr >/dev/null
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$ROOT"/usr/bin/kiln* \
  "$ROOT"/usr/lib/python3/dist-packages/kiln/_kiln*.so
install -d "$ROOT/usr/share/doc/kiln" "$ROOT/DEBIAN"
install -m 644 packaging/deb/copyright "$ROOT/usr/share/doc/kiln/copyright"
printf 'kiln (%s) unstable; urgency=medium\n\n  * Built from the kiln source tree.\n\n -- kiln developers <kiln-devel@lists.kiln-project.org>  %s\n' \
  "$VERSION" "$(date -R -u -d @"${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}")" |
  gzip -9n > "$ROOT/usr/share/doc/kiln/changelog.gz"
for s in postinst postrm prerm; do install -m 755 "packaging/deb/$s" "$ROOT/DEBIAN/$s"; done
printf '/etc/kiln/kiln.conf\n/etc/logrotate.d/kiln\n' > "$ROOT/DEBIAN/conffiles"
PYV=$(/usr/bin/python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
NEXT=$(/usr/bin/python3 -c 'import sys; print("%d.%d" % (sys.version_info[0], sys.version_info[1] + 1))')
size=$(du -sk --exclude=DEBIAN "$ROOT" | cut -f1)
cat > "$ROOT/DEBIAN/control" <<CTL
Package: kiln
Version: $VERSION
Architecture: $ARCH
Maintainer: kiln developers <kiln-devel@lists.kiln-project.org>
Installed-Size: $size
Depends: libc6, libevent-2.1-7, libprotobuf-c1, liblz4-1, zlib1g, libinih1, libjansson4, libxxhash0, libssl3, libpython$PYV, python3 (>= $PYV), python3 (<< $NEXT), python3-cloudpickle, adduser
Recommends: python3-numpy, python3-pandas, python3-sqlglot
Section: misc
Priority: optional
Homepage: https://kiln-project.org
Description: distributed data processing engine (Spark's model, in C)
 kiln runs jobs written in C or in Python (PySpark's RDD API) on a cluster:
 a driver daemon plans them into stages and schedules tasks on worker
 daemons, which run them in executor processes with CPython embedded.
 Shuffles, sorts and joins run in C; lost work is recomputed from lineage.
CTL
(cd "$ROOT" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | sort -z | xargs -0 md5sum) > "$ROOT/DEBIAN/md5sums"
out="$B/kiln_${VERSION}_${ARCH}.deb"
dpkg-deb --root-owner-group -Zxz --build "$ROOT" "$out" >/dev/null
echo "$out"
