#!/usr/bin/env bash
# Installs the official `openai` npm client, major version 4, into PREFIX/node_modules (project-local; the
# end-to-end test scripts/openai-node-test.sh loads it from there). Quiet and quick when already there.
# Usage: scripts/install-openai-node.sh [PREFIX]   (default: build/npm under the repository root)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
prefix=${1:-$here/build/npm}
mkdir -p "$prefix"
prefix=$(cd "$prefix" && pwd)
have=$(node -p "try { require('$prefix/node_modules/openai/package.json').version } catch { '' }" 2>/dev/null || true)
case "$have" in 4.*) exit 0 ;; esac
command -v npm >/dev/null || { echo "install-openai-node: npm not found" >&2; exit 1; }
echo "install-openai-node: npm install openai@4 into $prefix"
npm install --prefix "$prefix" --no-audit --no-fund --no-save --loglevel=error openai@4 >/dev/null
