#!/usr/bin/env bash
# Installs every Debian package the build, tests, fuzzers and benches need. Idempotent; quiet when all present.
set -euo pipefail
PKGS=(
  cmake make g++ pkg-config clang libclang-rt-14-dev
  libopenblas-dev libpcre2-dev libutf8proc-dev nlohmann-json3-dev libcli11-dev
  libcpp-httplib-dev liblinear-dev libzstd-dev zstd libgtest-dev libgmock-dev libbenchmark-dev
  chromium fonts-wqy-zenhei   # the web chat page browser test (tests/serve/browser_test.cpp)
  jq                          # scripts/bench-vs-llama.sh
  time                        # scripts/bench-vs-llama.sh: peak RSS of llama-bench
  libopenmpi-dev openmpi-bin  # data-parallel training (`mpirun -np N devops-model train`) and its tests
  iproute2                    # `ss`: the server's listen backlog (tests/serve/server_test.cpp)
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# The official `openai` npm client for the end-to-end server test, project-local (build/npm; the test
# installs it itself when missing). Optional: without node/npm that test is skipped.
if command -v npm >/dev/null && command -v node >/dev/null; then
  "$(dirname "$0")/install-openai-node.sh" || echo "install-deps: openai@4 not installed (npm registry unreachable?)"
fi
[ ${#missing[@]} -eq 0 ] && exit 0
echo "install-deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >/dev/null
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
