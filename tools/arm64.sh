#!/bin/sh
# tools/arm64.sh: the AArch64 build and its specs on an x86-64 Debian machine (make test-arm64).
#
#   tools/arm64.sh deps       installs the cross compiler, qemu-user-static and Debian's arm64
#                             multiarch libraries the core links and the specs load (as root), and
#                             unpacks the two arm64 packages that cannot sit beside their amd64
#                             twins (luajit, lua-term) into build-arm64/sysroot
#   tools/arm64.sh run CMD..  runs CMD with `luajit` on PATH being the arm64 LuaJIT under
#                             qemu-aarch64-static (binfmt need not be registered), `luarocks` run
#                             by it, `gcc` and `cc` the cross compiler, the arm64 Lua C modules on
#                             LUA_CPATH and the core of build-arm64/
set -e
top=$(cd "$(dirname "$0")/.." && pwd)
sysroot=$top/build-arm64/sysroot
triplet=aarch64-linux-gnu

# Debian's arm64 packages: the libraries the core links (csrc/: OpenBLAS, OpenSSL's libcrypto,
# zlib, libjpeg, libpng, stb) and the Lua C modules the specs and the CLI load (cjson, lyaml,
# lfs, lua-system for busted); all Multi-Arch: same, so they install beside the amd64 ones.
ARM64_LIBS="libluajit-5.1-dev:arm64 libopenblas-dev:arm64 libssl-dev:arm64 zlib1g-dev:arm64
  libjpeg62-turbo-dev:arm64 libpng-dev:arm64 libstb-dev:arm64 lua-cjson:arm64 lua-yaml:arm64
  lua-filesystem:arm64 lua-system:arm64"
# Multi-Arch: foreign or none (they would replace the amd64 luajit and lua-term): unpacked only.
ARM64_UNPACKED="luajit:arm64 lua-term:arm64"

deps() {
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    [ "$(id -u)" = 0 ] || { echo "tools/arm64.sh: run as root: dpkg --add-architecture arm64 && apt-get update" >&2; exit 1; }
    dpkg --add-architecture arm64
    apt-get update -o DPkg::Lock::Timeout=600 -q
  fi
  # (tools/deps.sh runs apt-get update itself when an install fails: the arm64 lists may be new)
  sh "$top/tools/deps.sh" gcc-aarch64-linux-gnu qemu-user-static $ARM64_LIBS
  [ -x "$sysroot/usr/bin/luajit" ] && [ "$(cat "$sysroot/.packages" 2>/dev/null)" = "$ARM64_UNPACKED" ] && return 0
  rm -rf "$sysroot" && mkdir -p "$sysroot/debs"
  chmod 777 "$sysroot/debs" # apt-get download writes there as _apt when it can
  (cd "$sysroot/debs" && apt-get download -q $ARM64_UNPACKED)
  for deb in "$sysroot"/debs/*.deb; do dpkg -x "$deb" "$sysroot"; done
  echo "$ARM64_UNPACKED" > "$sysroot/.packages"
}

run() {
  [ -x "$sysroot/usr/bin/luajit" ] || { echo "tools/arm64.sh: no arm64 LuaJIT: run tools/arm64.sh deps" >&2; exit 1; }
  bin=$top/build-arm64/bin
  mkdir -p "$bin" "$top/build-arm64/lua/luarocks/core"
  # -L: the arm64 dynamic loader and libraries are Debian's multiarch ones under /
  printf '#!/bin/sh\nexec qemu-aarch64-static -L / "%s" "$@"\n' "$sysroot/usr/bin/luajit" > "$bin/luajit"
  # luarocks run by that LuaJIT, compiling with the cross compiler ("gcc" is its CC and LD, and
  # `gcc -print-multiarch` gives it the arm64 library directories); luarocks takes the
  # architecture of the rocks it packs from /bin/sh, an x86-64 binary here, unless a build of
  # luarocks hard-codes it in luarocks.core.hardcoded: this one does
  printf '#!/bin/sh\nexec luajit /usr/bin/luarocks "$@"\n' > "$bin/luarocks"
  for c in gcc cc; do ln -sf "$(command -v $triplet-gcc)" "$bin/$c"; done
  echo 'return { SYSTEM = "linux", PROCESSOR = "aarch64" }' > "$top/build-arm64/lua/luarocks/core/hardcoded.lua"
  chmod +x "$bin/luajit" "$bin/luarocks"
  PATH=$bin:$PATH
  LUA_PATH="$top/lua/?.lua;$top/lua/?/init.lua;$top/build-arm64/lua/?.lua;$sysroot/usr/share/lua/5.1/?.lua;$sysroot/usr/share/lua/5.1/?/init.lua;;"
  LUA_CPATH="$top/build-arm64/?.so;$sysroot/usr/lib/$triplet/lua/5.1/?.so;;"
  MNIST_BUILD_DIR=build-arm64
  export PATH LUA_PATH LUA_CPATH MNIST_BUILD_DIR
  "$@"
}

case "$1" in
  deps) deps ;;
  run) shift; run "$@" ;;
  *) echo "usage: tools/arm64.sh deps | run CMD..." >&2; exit 2 ;;
esac
