#!/bin/sh
# kiln-user.sh - the system user and directories kiln's systemd units run
# with: user and group `kiln`, /var/lib/kiln (state and work dirs) and
# /var/log/kiln, owned by it. Idempotent; run as root by `make install`
# (without DESTDIR) and by the .deb's postinst.
set -e
getent group kiln >/dev/null || groupadd --system kiln
getent passwd kiln >/dev/null ||
  useradd --system --gid kiln --home-dir /var/lib/kiln --no-create-home --shell /usr/sbin/nologin \
    --comment "kiln daemons" kiln
install -d -o kiln -g kiln -m 750 /var/lib/kiln /var/log/kiln
