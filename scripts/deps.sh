#!/usr/bin/env bash
# Installs the Debian packages kiln needs to build, test and run its demo,
# only those that are missing. Safe to run repeatedly; used by `make`,
# `make check`, `make demo` and .ci/run.
set -eu
pkgs="gcc make pkg-config libevent-dev libprotobuf-c-dev protobuf-c-compiler
liblz4-dev zlib1g-dev check libssl-dev libxxhash-dev libinih-dev libjansson-dev
mawk sqlite3 coreutils grep procps iproute2 clang libclang-rt-dev
python3-dev python3-cloudpickle python3-pytest python3-numpy
python3-pandas python3-sqlglot
lintian adduser slurm-wlm munge python3-yaml
curl python3-prometheus-client chromium"
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing$missing" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -q >&2
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q $missing >&2
