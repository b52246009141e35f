#!/usr/bin/env bash
# `make demo` until the full recipe demo lands: runs the engine on the tiny Qwen1 fixture
# (DevOps-Model's architecture, random weights), so the output text is meaningless but exact.
set -euo pipefail
cli=${1:-build/src/devops-model}
fx=${DM_FIXTURES_DIR:-../shared/fixtures}
echo "== devops-model demo (engine only: tiny random-weight Qwen1 fixture from $fx; the full recipe demo is issue 7)"
echo "-- chat, seed conversation, greedy:"
hist=$(mktemp); echo '[["你是谁", "我是 DevOps 助手。"]]' > "$hist"
"$cli" chat --model "$fx/tiny-qwen1" --greedy --repetition-penalty 1 --max-new-tokens 16 --json \
  --prompt "什么是持续集成？" --history "$hist"
rm -f "$hist"
echo "-- generate from ids on tiny-qwen2:"
"$cli" generate --model "$fx/tiny-qwen2" --ids 1,2,3 --max-new-tokens 8 --json
echo "-- bench on tiny-qwen3:"
"$cli" bench --model "$fx/tiny-qwen3" --prompt-tokens 32 --decode-tokens 16
