#!/usr/bin/env bash
# Checks that each module's CMake dependencies equal its includes.
#
# For every `dm_module(NAME DEPS ... LIBS ...)` in src/CMakeLists.txt, the modules NAME includes are the
# <mod> of every `#include "devops_model/<mod>/..."`, `<devops_model/<mod>/...>` or internal
# `"<mod>/..."` in src/NAME/*.cpp, src/NAME/*.h and its public headers include/devops_model/NAME/*.h,
# keeping only names that are modules and not NAME itself. The rule is plain equality:
# DEPS == the set of other modules whose headers NAME includes (direct dependencies only; a module
# that includes core's headers lists core even if another dependency brings it in).
# Prints each mismatch and exits 1; run by CTest as `module_deps`.
#
# Usage: scripts/check-module-deps.sh [repo root]
set -euo pipefail
shopt -s nullglob

root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cmake_file=$root/src/CMakeLists.txt
[ -f "$cmake_file" ] || { echo "check-module-deps: no $cmake_file" >&2; exit 2; }

# One dm_module(...) call per line, even if a call spans several lines; comments dropped.
calls=$(sed -E 's/#.*$//' "$cmake_file" | tr '\n' ' ' | grep -oE 'dm_module\([^)]*\)' || true)
[ -n "$calls" ] || { echo "check-module-deps: no dm_module() calls in $cmake_file" >&2; exit 2; }
modules=$(sed -E 's/^dm_module\([[:space:]]*([A-Za-z0-9_]+).*/\1/' <<<"$calls" | sort -u)

is_module() { grep -qxF "$1" <<<"$modules"; }

status=0
while read -r call; do
  name=$(sed -E 's/^dm_module\([[:space:]]*([A-Za-z0-9_]+).*/\1/' <<<"$call")
  # Words after DEPS up to the next keyword (LIBS) or the closing parenthesis.
  declared=$(sed -nE 's/.*[[:space:]]DEPS[[:space:]]+([^)]*)\).*/\1/p' <<<"$call" | sed -E 's/(^|[[:space:]])LIBS([[:space:]].*)?$//' |
             tr -s ' \t' '\n' | grep -v '^$' | sort -u || true)
  files=("$root"/src/"$name"/*.cpp "$root"/src/"$name"/*.h "$root"/include/devops_model/"$name"/*.h)
  included=""
  if [ ${#files[@]} -gt 0 ]; then
    included=$(grep -hE '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]' "${files[@]}" |
               sed -nE 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"](devops_model\/)?([A-Za-z0-9_]+)\/.*/\2/p' |
               sort -u || true)
  fi
  used=""
  for m in $included; do
    if [ "$m" != "$name" ] && is_module "$m"; then used+="$m"$'\n'; fi
  done
  used=$(grep -v '^$' <<<"$used" | sort -u || true)
  missing=$(comm -13 <(echo "$declared") <(echo "$used") | grep -v '^$' || true)
  extra=$(comm -23 <(echo "$declared") <(echo "$used") | grep -v '^$' || true)
  if [ -n "$missing" ] || [ -n "$extra" ]; then
    status=1
    echo "module $name: DEPS {$(echo $declared)} but it includes {$(echo $used)}"
    [ -z "$missing" ] || echo "  add to DEPS (headers included): $(echo $missing)"
    [ -z "$extra" ] || echo "  remove from DEPS (no header included): $(echo $extra)"
  fi
done <<<"$calls"

if [ $status -eq 0 ]; then
  echo "check-module-deps: $(wc -w <<<"$modules") modules, DEPS match includes"
else
  echo "check-module-deps: fix DEPS in src/CMakeLists.txt (or the includes) so that they match" >&2
fi
exit $status
