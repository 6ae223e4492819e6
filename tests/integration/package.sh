#!/usr/bin/env bash
# package.sh - kiln as Debian installs it: `make deb` gives a package lintian
# passes without errors; installed with dpkg it puts binaries, header,
# Python package (for Debian's python3), units pointing at /usr/bin, config,
# logrotate and man pages in place and makes the kiln user; purged, it
# leaves none of its files. Also `make install DESTDIR=` and `make
# uninstall`. Run with the normal build only (KILN_BUILD).
set -u
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh
T=$(mktemp -d "${TMPDIR:-/tmp}/kiln-pkg-XXXXXX")
installed=""
cleanup() { [ -n "$installed" ] && dpkg --purge kiln >/dev/null 2>&1; rm -rf "$T"; }
trap cleanup EXIT

deb=$(make -s deb BUILD="$(basename "$B")" 2>"$T/deb.err" | tail -1)
check deb_built test -f "$deb"
lintian --tag-display-limit 0 "$deb" > "$T/lintian.out" 2>&1
if grep -q '^E: ' "$T/lintian.out"; then fail lintian_no_errors "$(grep '^E: ' "$T/lintian.out" | head -5)"; else pass lintian_no_errors; fi
dpkg-deb -c "$deb" | awk '{ print $6 }' | sed 's|^\./|/|' > "$T/contents"
for f in /usr/bin/kiln /usr/bin/kiln-driver /usr/bin/kiln-worker /usr/include/kiln.h \
  /usr/lib/python3/dist-packages/kiln/__init__.py /usr/lib/python3/dist-packages/kiln/_build.py \
  /lib/systemd/system/kiln-driver.service /lib/systemd/system/kiln-worker.service /etc/kiln/kiln.conf \
  /etc/logrotate.d/kiln /usr/share/man/man1/kiln.1.gz /usr/share/man/man5/kiln.conf.5.gz \
  /usr/share/man/man8/kiln-driver.8.gz /usr/share/man/man8/kiln-worker.8.gz /usr/share/doc/kiln/copyright \
  /usr/share/bash-completion/completions/kiln; do
  grep -qx "$f" "$T/contents" || fail "deb_has_$f" "not in the package"
done
grep -q '^/usr/lib/python3/dist-packages/kiln/_kiln.*\.so$' "$T/contents" && pass deb_has_extension ||
  fail deb_has_extension "no kiln/_kiln*.so"
check deb_conffiles sh -c "dpkg-deb -e '$deb' '$T/ctl' && grep -qx /etc/kiln/kiln.conf '$T/ctl/conffiles'"

if dpkg -s kiln >/dev/null 2>&1; then
  log "SKIP deb_install: a kiln package is already installed on this machine"
else
  if dpkg -i "$deb" > "$T/dpkg.out" 2>&1; then
    installed=1
    pass deb_installs
    ! grep -qi 'warn' "$T/dpkg.out" && pass deb_installs_without_warnings || fail deb_installs_without_warnings "$(cat "$T/dpkg.out")"
    # an ordinary user against the service's secret is told how to join its group
    asu() { local u=$1; shift; runuser -u "$u" -- env -u XDG_CONFIG_HOME -u XDG_RUNTIME_DIR -u KILN_SECRET_FILE "$@"; }
    if runuser -u nobody -- true 2>/dev/null && (cd / && asu kiln /usr/bin/kiln token >/dev/null 2>&1); then
      mkdir -p "$T/svc" "$T/nobody-home" && chown kiln "$T/svc" && chown nobody "$T/nobody-home" && chmod 755 "$T"
      (cd / && exec runuser -u kiln -- env -u XDG_CONFIG_HOME /usr/bin/kiln-driver --listen 127.0.0.1:0 --http 127.0.0.1:0 --state-dir "$T/svc" \
        --log-file "$T/svc/driver.log") &
      svc=$!
      p=$(port "$T/svc" rpc)
      out=$(cd / && asu nobody HOME="$T/nobody-home" timeout 30 /usr/bin/kiln status --master "127.0.0.1:$p" 2>&1)
      kill "$svc" 2>/dev/null; wait "$svc" 2>/dev/null # runuser passes the signal on to the driver
      echo "$out" | grep -q "authentication failed.*readable only by group kiln: join it (sudo adduser .* kiln" &&
        pass group_hint_for_ordinary_user || fail group_hint_for_ordinary_user "$out"
    else
      fail group_hint_for_ordinary_user "cannot run commands as nobody and kiln"
    fi
    check deb_user getent passwd kiln
    check deb_dirs sh -c '[ "$(stat -c %U /var/lib/kiln)" = kiln ] && [ "$(stat -c %U /var/log/kiln)" = kiln ]'
    check deb_units_use_usr_bin grep -q 'ExecStart=/usr/bin/kiln-driver ' /lib/systemd/system/kiln-driver.service
    check deb_man test -f /usr/share/man/man8/kiln-worker.8.gz
    got=$(cd / && env -u PYTHONPATH /usr/bin/python3 -c 'import kiln, kiln._build as b; print(kiln.__file__, b.bindir)')
    [ "$got" = "/usr/lib/python3/dist-packages/kiln/__init__.py /usr/bin" ] && pass deb_python_package ||
      fail deb_python_package "got '$got'"
    # the installed client runs a Python job on local[1] with the installed daemons
    printf 'import kiln\nwith kiln.Context("local[1]") as sc:\n    print(sc.parallelize(range(10), 2).map(lambda x: x * x).sum())\n' > "$T/job.py"
    got=$(cd / && env -u PYTHONPATH -u KILN_BINDIR timeout 120 /usr/bin/kiln submit "$T/job.py" 2>"$T/job.err")
    [ "$got" = 285 ] && pass deb_python_job || fail deb_python_job "got '$got' $(tail -3 "$T/job.err")"
    dpkg --purge kiln > "$T/purge.out" 2>&1 && installed="" && pass deb_purges || fail deb_purges "$(tail -3 "$T/purge.out")"
    left=$(for f in /usr/bin/kiln /usr/lib/python3/dist-packages/kiln /etc/kiln /var/lib/kiln /lib/systemd/system/kiln-driver.service; do
      [ -e "$f" ] && echo "$f"; done)
    [ -z "$left" ] && pass deb_purge_leaves_nothing || fail deb_purge_leaves_nothing "$left"
  else
    fail deb_installs "$(tail -5 "$T/dpkg.out")"
  fi
fi

# make install into a staging root and make uninstall out of it
make -s install BUILD="$(basename "$B")" DESTDIR="$T/root" PREFIX=/usr/local > "$T/install.out" 2>&1
check install_units_point_at_prefix grep -q 'ExecStart=/usr/local/bin/kiln-worker ' "$T/root/lib/systemd/system/kiln-worker.service"
check install_logrotate test -f "$T/root/etc/logrotate.d/kiln"
make -s uninstall BUILD="$(basename "$B")" DESTDIR="$T/root" PREFIX=/usr/local > "$T/uninstall.out" 2>&1
left=$(cd "$T/root" && find . -type f | sort)
[ "$left" = "./etc/kiln/kiln.conf" ] && pass uninstall_keeps_only_config || fail uninstall_keeps_only_config "$left"
summary
