#!/usr/bin/env bash
# Installs a finished build into a temporary prefix and uses it as an outside program would:
#   1. every installed header compiles alone, with only <prefix>/include on the include path;
#   2. the umbrella <devops_model/devops_model.h> pulls in no third-party header and nothing from the
#      source tree (only the standard library besides the installed headers);
#   3. examples/ configures with find_package(devops_model) against the prefix, builds, and
#      chat_two_turns chats two turns with MODEL_DIR (exit 0, two "assistant: " lines).
# Run by CTest as `install_example` (label slow).
#
# Usage: scripts/check-install.sh BUILD_DIR SOURCE_DIR MODEL_DIR [CXX]
set -euo pipefail

build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
model=$3
cxx=${4:-c++}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
fail() { echo "check-install: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" || { cat "$tmp/install.log"; fail "cmake --install failed"; }
[ -f "$prefix/include/devops_model/devops_model.h" ] || fail "umbrella header not installed"
ls "$prefix"/lib*/cmake/devops_model/devops_modelConfig.cmake >/dev/null 2>&1 || fail "no devops_modelConfig.cmake"

# 1. Each installed header alone (two at a time).
headers=$(cd "$prefix/include" && find devops_model -name '*.h' | sort)
export cxx prefix
if ! printf '%s\n' $headers | xargs -P 2 -I{} sh -c \
    'echo "#include <{}>" | "$cxx" -std=c++20 -fsyntax-only -x c++ -I "$prefix/include" - 2>&1 || { echo "FAILED: {}"; exit 1; }' \
    >"$tmp/headers.log" 2>&1; then
  cat "$tmp/headers.log"
  fail "an installed header does not compile alone"
fi
echo "check-install: $(wc -w <<<"$headers") installed headers compile alone"

# 2. What the umbrella includes, transitively.
echo "#include <devops_model/devops_model.h>" | "$cxx" -std=c++20 -M -x c++ -I "$prefix/include" - >"$tmp/deps" ||
  fail "the umbrella header does not compile"
tr -s ' \\' '\n' <"$tmp/deps" | grep -E '^/' | sort -u >"$tmp/deps.list"
if grep -E "^$src/|nlohmann|httplib|pcre2|/CLI/|CLI11|zstd|/omp\.h|utf8proc|linear\.h|gtest|benchmark|cblas|openblas" \
    "$tmp/deps.list"; then
  fail "the umbrella header reaches the headers above (third-party or source tree)"
fi
echo "check-install: the umbrella includes $(grep -c "^$prefix/" "$tmp/deps.list") installed headers and the standard library only"

# 3. The example, built against the prefix alone.
cmake -S "$src/examples" -B "$tmp/examples" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_CXX_COMPILER="$cxx" >"$tmp/configure.log" 2>&1 || { cat "$tmp/configure.log"; fail "examples/ does not configure"; }
cmake --build "$tmp/examples" >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; fail "examples/ does not build"; }
if grep -rqE -- "-I *$src/|isystem *$src/" "$tmp/examples/CMakeFiles"; then
  fail "the example was compiled with the source tree on its include path"
fi
rc=0
OMP_WAIT_POLICY=PASSIVE "$tmp/examples/chat_two_turns" "$model" >"$tmp/out.txt" 2>"$tmp/err.txt" || rc=$?
if [ $rc -ne 0 ]; then
  cat "$tmp/out.txt" "$tmp/err.txt"
  fail "chat_two_turns $model exited with $rc"
fi
cat "$tmp/out.txt"
replies=$(grep -c '^assistant: ' "$tmp/out.txt" || true)
[ "$replies" -eq 2 ] || fail "expected 2 replies, got $replies"
echo "check-install: OK"
