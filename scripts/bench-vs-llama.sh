#!/usr/bin/env bash
# Side-by-side speed against llama.cpp on the same weights: for each shape, random weights
# (`convert --random`), one GGUF per type written by our own exporter, then our `bench` and llama.cpp's
# `llama-bench` interleaved (ours, theirs, ours, theirs, ...) and one table of medians: tokens/s of both,
# the ratio ours/theirs, and our decode as a fraction of the memory bandwidth our bench measured in the
# same run. Both read the weights into memory (ours --no-mmap, llama.cpp --mmap 0: mapped 4 KiB file pages
# halve llama.cpp's own 7B decode on these VMs). Both run with their default thread waits (llama.cpp's pool
# polls; OpenMP spins a while before sleeping). Benchmarks only: nothing here is a test.
#
#   scripts/bench-vs-llama.sh [--shapes "qwen2.5-0.5b qwen2.5-1.5b"] [--types "f32 f16 bf16 q8_0 q4_0 q4_k_m"]
#                             [--prompts "128 512"] [--decode 64] [--threads 2] [--reps 2] [--work DIR]
#
# Environment: DM (our binary; default build/src/devops-model), LLAMA_BENCH (default
# ../shared/anchors/llama.cpp/bin/llama-bench). Needs jq and GNU time (peak RSS of both). The GGUFs are kept in
# --work for reruns. Shapes: `devops-model convert --help` (qwen-7b is DevOps-Model-7B's Qwen1 architecture).
set -euo pipefail
cd "$(dirname "$0")/.."

shapes="qwen2.5-0.5b qwen2.5-1.5b"
types="f32 f16 bf16 q8_0 q4_0 q4_k_m"
prompts="128 512"
decode=64
threads=2
reps=2
work=${TMPDIR:-/tmp}/bench-vs-llama
while [ $# -gt 0 ]; do
  case "$1" in
    --shapes) shapes=$2; shift 2 ;;
    --types) types=$2; shift 2 ;;
    --prompts) prompts=$2; shift 2 ;;
    --decode) decode=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "bench-vs-llama: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

dm=${DM:-build/src/devops-model}
llama=${LLAMA_BENCH:-../shared/anchors/llama.cpp/bin/llama-bench}
tokenizers=../shared/fixtures/qwen-tokenizer  # tokenizer.json (Qwen2/3 shapes), qwen.tiktoken (Qwen1: qwen-*)
for f in "$dm" "$llama"; do
  [ -x "$f" ] || { echo "bench-vs-llama: $f not found or not executable (build first: make build)" >&2; exit 2; }
done
command -v jq >/dev/null || { echo "bench-vs-llama: needs jq (scripts/install-deps.sh installs it)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "bench-vs-llama: needs GNU time (Debian package time)" >&2; exit 2; }
mkdir -p "$work"

# The GGUF of one shape and type, made once.
model_file() {
  local shape=$1 type=$2 dir="$work/$shape" out="$work/$shape-$type.gguf"
  if [ ! -d "$dir" ]; then
    local tokenizer=$tokenizers/tokenizer.json
    case "$shape" in qwen-*) tokenizer=$tokenizers/qwen.tiktoken ;; esac
    "$dm" convert --random --shape "$shape" --dtype bf16 --tokenizer "$tokenizer" --out "$dir" >&2
  fi
  if [ ! -f "$out" ]; then
    "$dm" convert --model "$dir" --to-gguf "$out" --outtype "$type" >&2
  fi
  echo "$out"
}

median() { sort -g | awk '{v[NR]=$1} END{if (NR == 0) print "nan"; else if (NR % 2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }

results="$work/results.tsv"  # shape type prompt who metric value
: >"$results"
for shape in $shapes; do
  for type in $types; do
    file=$(model_file "$shape" "$type")
    for p in $prompts; do
      for ((r = 1; r <= reps; r++)); do
        ours=$("$dm" bench --model "$file" --no-mmap --threads "$threads" --prompt-tokens "$p" --decode-tokens "$decode" --json)
        jq -r --arg s "$shape" --arg t "$type" --arg p "$p" \
          '[$s,$t,$p,"ours","prefill",.prefill_tokens_per_s], [$s,$t,$p,"ours","decode",.decode_tokens_per_s],
           [$s,$t,$p,"ours","bw",.decode_fraction_of_bandwidth], [$s,$t,$p,"ours","rss",.peak_rss_bytes]
           | @tsv' <<<"$ours" >>"$results"
        theirs=$(/usr/bin/time -f '%M' -o "$work/rss" "$llama" -m "$file" -t "$threads" -p "$p" -n "$decode" -r 1 \
          --mmap 0 -o json 2>/dev/null)
        jq -r --arg s "$shape" --arg t "$type" --arg p "$p" \
          '.[] | [$s,$t,$p,"theirs",(if .n_gen > 0 then "decode" else "prefill" end),.avg_ts] | @tsv' \
          <<<"$theirs" >>"$results"
        printf '%s\t%s\t%s\ttheirs\trss\t%s\n' "$shape" "$type" "$p" "$(($(tail -1 "$work/rss") * 1024))" >>"$results"
      done
    done
  done
done

cpu=$(awk -F: '/model name/ {sub(/^ +/, "", $2); print $2; exit}' /proc/cpuinfo)
echo "CPU: $cpu ($(nproc) cores visible), $threads threads, medians of $reps interleaved runs, decode $decode tokens"
printf '| shape | type | prompt | prefill ours | prefill llama.cpp | ratio | decode ours | decode llama.cpp | ratio | decode / bandwidth | peak RSS ours / llama.cpp (GB) |\n'
printf '|---|---|---|---|---|---|---|---|---|---|---|\n'
pick() { awk -F'\t' -v s="$1" -v t="$2" -v p="$3" -v w="$4" -v m="$5" '$1==s && $2==t && $3==p && $4==w && $5==m {print $6}' "$results" | median; }
for shape in $shapes; do
  for type in $types; do
    for p in $prompts; do
      po=$(pick "$shape" "$type" "$p" ours prefill); pt=$(pick "$shape" "$type" "$p" theirs prefill)
      do_=$(pick "$shape" "$type" "$p" ours decode); dt=$(pick "$shape" "$type" "$p" theirs decode)
      bw=$(pick "$shape" "$type" "$p" ours bw)
      ro=$(pick "$shape" "$type" "$p" ours rss); rt=$(pick "$shape" "$type" "$p" theirs rss)
      awk -v s="$shape" -v t="$type" -v p="$p" -v po="$po" -v pt="$pt" -v do_="$do_" -v dt="$dt" -v bw="$bw" \
          -v ro="$ro" -v rt="$rt" 'BEGIN {
        printf "| %s | %s | %s | %.1f | %.1f | %.2f | %.1f | %.1f | %.2f | %.0f %% | %.2f / %.2f |\n",
               s, t, p, po, pt, (pt > 0 ? po / pt : 0), do_, dt, (dt > 0 ? do_ / dt : 0), 100 * bw, ro / 1e9, rt / 1e9 }'
    done
  done
done
echo "raw results: $results"
