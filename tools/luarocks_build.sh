#!/bin/sh
# tools/luarocks_build.sh TREE: builds and installs the rock into TREE the way `luarocks install`
# does (luarocks' builtin backend with its own CFLAGS, no Makefile), from a copy of the checkout,
# so luarocks' objects and its mnist/core.so never land in the checkout. Prints the installed
# core.so's path. For spec/build_spec.lua and bench/run.lua.
set -e
tree=$1
[ -n "$tree" ] || { echo "usage: tools/luarocks_build.sh TREE" >&2; exit 2; }
top=$(cd "$(dirname "$0")/.." && pwd)
src=$(mktemp -d)
trap 'rm -rf "$src"' EXIT
sh "$top/tools/checkout_copy.sh" "$src"
rockspec=$(cd "$src" && ls mnist-*.rockspec)
(cd "$src" && luarocks --lua-version=5.1 make "$rockspec" --deps-mode=none \
   LUA_INCDIR="${LUA_INC:-/usr/include/luajit-2.1}" --tree "$tree") >"$src/luarocks.log" 2>&1 ||
  { cat "$src/luarocks.log" >&2; exit 1; }
ls "$tree"/lib/lua/5.1/mnist/core.so
