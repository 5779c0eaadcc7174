#!/bin/sh
# tools/rock.sh OUT [LUAROCKS...]: packs the rocks of the checkout into OUT (make rock):
#   mnist-V-1.src.rock            the rockspec and the sources: `luarocks build` it where there is
#                                 a C compiler
#   mnist-V-1.linux-<arch>.rock   the core compiled for this machine, the Lua modules, the CLI and
#                                 the shipped weights: `luarocks --lua-version=5.1 install` it, no
#                                 compiler needed (the binary rock is built from the source rock,
#                                 so packing it also checks that the source rock builds)
# LUAROCKS: the command that runs luarocks (default `luarocks`; tools/arm64.sh runs it under qemu
# with the arm64 LuaJIT, so that luarocks names the rock linux-aarch64). Extra luarocks variables
# (CC=..., LD=...) come from ROCK_VARS. Prints the two rocks' paths.
set -e
out=$1
[ -n "$out" ] || { echo "usage: tools/rock.sh OUT [LUAROCKS...]" >&2; exit 2; }
shift
[ $# -gt 0 ] || set -- luarocks
top=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rockspec=$(cd "$top" && ls mnist-*.rockspec)
name_version=${rockspec%.rockspec} # mnist-0.1.0-1
base=${name_version%-*}            # mnist-0.1.0: the sources' tarball and its top directory
sh "$top/tools/checkout_copy.sh" "$work/$base"
(cd "$work" && tar -czf "$base.tar.gz" "$base")
# The source rock's rockspec takes its sources from the tarball packed beside it (no LuaRocks
# server or git remote is reachable): its one source url, rewritten.
sed 's|^  url = "[^"]*",|  url = "file://'"$work/$base.tar.gz"'",|' "$top/$rockspec" > "$work/$rockspec"
[ "$(grep -c "^  url = \"file://$work/" "$work/$rockspec")" = 1 ] ||
  { echo "tools/rock.sh: $rockspec: no single source url to rewrite" >&2; exit 1; }
rm -f "$out/$name_version".*rock
log=$work/luarocks.log
# (eval: ROCK_VARS holds several VAR=VALUE words)
(cd "$out" && "$@" --lua-version=5.1 pack "$work/$rockspec" &&
   eval '"$@" --lua-version=5.1 build "$name_version.src.rock" --pack-binary-rock --deps-mode=none \
     LUA_INCDIR="${LUA_INC:-/usr/include/luajit-2.1}" '"$ROCK_VARS") >"$log" 2>&1 ||
  { cat "$log" >&2; exit 1; }
ls "$out/$name_version.src.rock"
ls "$out/$name_version".*.rock | grep -v '\.src\.rock$'
