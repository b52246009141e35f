#!/usr/bin/env bash
# End-to-end test with the official `openai` npm client (v4): installs it into NPM_PREFIX (project-local,
# e.g. build/npm; nothing global) unless already there, starts `devops-model serve` on free loopback ports
# and runs tests/serve/openai_node/openai_e2e.mjs against
#   1. MODEL with --embedding-model BERT_DIR and --api-key: every case;
#   2. MODEL alone: the embedding cases again, now the decoder's mean-pooled hidden state.
# Usage: scripts/openai-node-test.sh CLI MODEL_DIR BERT_DIR NPM_PREFIX   (exit 77 = skipped: no node/npm,
# node < 18, or the npm registry unreachable)
set -euo pipefail
cli=$1 model=$2 bert=$3 prefix=$4
here=$(cd "$(dirname "$0")/.." && pwd)
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "openai-node-test: skipped (needs node and npm)"; exit 77
fi
if [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 18 ]; then
  echo "openai-node-test: skipped (openai v4 needs Node >= 18, have $(node --version))"; exit 77
fi
"$here/scripts/install-openai-node.sh" "$prefix" || {
  echo "openai-node-test: skipped (could not install openai@4 from the npm registry into $prefix)"; exit 77
}

pids=() tmp=$(mktemp -d)
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
# serve NAME ARGS...: starts a server, sets $port.
serve() {
  local name=$1; shift
  "$cli" serve --model "$model" --port 0 --threads 1 --parallel 2 "$@" >"$tmp/$name.out" 2>"$tmp/$name.log" &
  pids+=($!)
  for _ in $(seq 200); do [ -s "$tmp/$name.out" ] && break; sleep 0.1; done
  port=$(head -1 "$tmp/$name.out")
  [ -n "$port" ] || { echo "openai-node-test: server $name did not start"; cat "$tmp/$name.log"; exit 1; }
}
model_id=$(basename "$model") bert_id=$(basename "$bert")
status=0
serve main --api-key test-key --embedding-model "$bert"
node "$here/tests/serve/openai_node/openai_e2e.mjs" "$prefix" "http://127.0.0.1:$port/v1" test-key "$model_id" "$bert_id" ||
  status=1
serve decoder
DM_E2E_ONLY=modelsList,embeddingsFloatAndBase64,embeddingsOfTokenIds \
  node "$here/tests/serve/openai_node/openai_e2e.mjs" "$prefix" "http://127.0.0.1:$port/v1" unused "$model_id" "$model_id" ||
  status=1
if [ $status -ne 0 ]; then
  echo "openai-node-test: access logs:"; cat "$tmp"/*.log
fi
exit $status
