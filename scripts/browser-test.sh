#!/usr/bin/env bash
# Browser test of the web chat page: starts `devops-model serve` on a free loopback port with a tiny
# fixture model, drives headless Chromium (tests/serve/browser/chat_page.mjs) to ask a question and
# wait for the streamed answer, and saves a screenshot.
# Usage: scripts/browser-test.sh CLI MODEL_DIR SCREENSHOT.png   (exit 77 = skipped: no chromium/node)
set -euo pipefail
cli=$1 model=$2 shot=$3
here=$(cd "$(dirname "$0")/.." && pwd)
chromium=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$chromium" ] || ! command -v node >/dev/null; then
  echo "browser-test: skipped (needs $chromium and node; apt-get install chromium)"; exit 77
fi
if ! node --experimental-websocket -e 'if (typeof WebSocket !== "function") process.exit(1)' 2>/dev/null; then
  echo "browser-test: skipped (node has no WebSocket; needs Node >= 20.10)"; exit 77
fi
log=$(mktemp)
"$cli" serve --model "$model" --port 0 --threads 1 >"$log.out" 2>"$log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -f "$log" "$log.out"' EXIT
for _ in $(seq 100); do [ -s "$log.out" ] && break; sleep 0.1; done
port=$(head -1 "$log.out")
[ -n "$port" ] || { echo "browser-test: server did not start"; cat "$log"; exit 1; }
mkdir -p "$(dirname "$shot")"
node --experimental-websocket --no-warnings "$here/tests/serve/browser/chat_page.mjs" "http://127.0.0.1:$port/" "$shot"
echo "browser-test: access log:"; cat "$log"
