#!/bin/sh
# Runs the busted specs under LuaJIT with TAP output and ends with the plain summary line
# "N passed, N failed" that CI reads. Exits non-zero when a spec fails, when busted itself fails,
# or when no spec ran at all. Extra arguments go to busted (e.g. a spec file).
out=$(mktemp)
rc=$(mktemp)
trap 'rm -f "$out" "$rc"' EXIT
{ luajit /usr/bin/busted -o TAP "$@"; echo $? > "$rc"; } | tee "$out"
status=$(cat "$rc")
passed=$(grep -c '^ok ' "$out")
failed=$(grep -c '^not ok ' "$out")
planned=$(sed -n 's/^1\.\.\([0-9]*\)$/\1/p' "$out" | tail -n 1)
if [ -z "$planned" ]; then
  echo "spec/run.sh: busted ended without a TAP plan (it crashed or failed to load a spec)" >&2
  failed=$((failed + 1))
elif [ "$planned" -ne $((passed + failed)) ]; then
  echo "spec/run.sh: TAP plan says $planned tests, saw $((passed + failed))" >&2
  failed=$((failed + 1))
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ] && [ "$status" -eq 0 ]
