#!/bin/sh
# tools/checkout_copy.sh DEST: copies the checkout's working tree (uncommitted changes included)
# into DEST without the build directories, git's files or any compiled object, so that what
# luarocks builds from the copy never lands in the checkout (tools/luarocks_build.sh, tools/rock.sh).
set -e
dest=$1
[ -n "$dest" ] || { echo "usage: tools/checkout_copy.sh DEST" >&2; exit 2; }
top=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$dest"
(cd "$top" && tar -cf - --exclude='./build*' --exclude=./.git --exclude=./mnist --exclude='*.o' --exclude='*.so' \
   --exclude='*.rock' .) | (cd "$dest" && tar -xf -)
