#!/bin/sh
# Installs the Debian packages named in $@ that are missing. As root: apt-get (with one
# `apt-get update` first when the package lists are empty or the install fails); otherwise
# prints the exact command to run.
set -e
missing=""
for pkg in "$@"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing="$missing $pkg"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "missing Debian packages:$missing" >&2
  echo "run: sudo apt-get update && sudo apt-get install -y$missing" >&2
  exit 1
fi
echo "installing Debian packages:$missing"
export DEBIAN_FRONTEND=noninteractive
# Another apt-get (a second build, unattended upgrades) may hold dpkg's lock: wait for it.
lock="-o DPkg::Lock::Timeout=600"
if ! apt-get install $lock -y -q $missing; then
  apt-get update $lock -q
  apt-get install $lock -y -q $missing
fi
