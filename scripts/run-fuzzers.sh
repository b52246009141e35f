#!/usr/bin/env bash
# Runs every fuzz_* binary in BUILD_DIR for SECONDS each, seeded from fuzz/corpus/<name> when present.
set -euo pipefail
dir=${1:?build dir}; secs=${2:-20}
shopt -s nullglob
for bin in "$dir"/fuzz/fuzz_*; do
  [ -x "$bin" ] || continue
  name=$(basename "$bin"); name=${name#fuzz_}
  work=$(mktemp -d)
  seeds=()
  [ -d "fuzz/corpus/$name" ] && seeds+=("fuzz/corpus/$name")
  echo "fuzz: $name for ${secs}s"
  "$bin" -max_total_time="$secs" -rss_limit_mb=2048 -artifact_prefix="$work/" -print_final_stats=0 "$work" "${seeds[@]}" >"$work.log" 2>&1 || { tail -50 "$work.log"; echo "fuzz: $name failed; reproducer kept in $work"; exit 1; }
  rm -rf "$work" "$work.log"
done
