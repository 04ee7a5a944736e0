#!/usr/bin/env bash
# Runs llama.cpp's Vulkan backend (prebuilt, from the npm registry: node-llama-cpp with
# @node-llama-cpp/linux-x64-vulkan) and `vkllm bench` on the same GGUF files, alternately, in one
# run, and prints tokens/s and the vkllm/llama.cpp ratios as a markdown table.
#
# Usage: bench/compare_llamacpp.sh [-p 128] [-n 64] [-r 3] [MODEL.gguf ...]
#        (default model: the embedded stories260K). Needs node and npm.
set -euo pipefail
cd "$(dirname "$0")/.."
P=128 N=64 R=3
while getopts "p:n:r:" opt; do
  case $opt in
    p) P=$OPTARG ;; n) N=$OPTARG ;; r) R=$OPTARG ;;
    *) echo "usage: $0 [-p P] [-n N] [-r R] [MODEL.gguf ...]" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
models=("$@")
[ ${#models[@]} -gt 0 ] || models=(third_party/stories260K.gguf)

source bench/llamacpp_env.sh
install_llamacpp
dir=$LLAMACPP_DIR
cp bench/llamacpp_bench.mjs "$dir/"
[ -x build/bin/vkllm ] || bash scripts/build.sh >&2
# llama.cpp ignores CPU-type Vulkan devices (lavapipe) unless told to use them.
export GGML_VK_VISIBLE_DEVICES="${GGML_VK_VISIBLE_DEVICES:-0}"

tps() { grep "\"test\":\"$1\"" | sed -E 's/.*"tokens_per_second":([0-9.e+-]+).*/\1/'; }
ms() { grep "\"test\":\"$1\"" | sed -E 's/.*"ms":([0-9.e+-]+).*/\1/'; }

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); date: $(date -u +%F)"
echo "device: $(build/bin/vkllm devices 2>/dev/null | sed -n 2p | sed 's/^[* ]*[0-9]*: //')"
echo
echo "| model | test | llama.cpp tok/s | vkllm tok/s | ratio |"
echo "|---|---|---:|---:|---:|"
for m in "${models[@]}"; do
  [ -f "$m" ] || { echo "error: $m: no such file" >&2; exit 1; }
  abs=$(realpath "$m")
  # Alternate: llama.cpp, vkllm, so both see the same machine state.
  l=$(cd "$dir" && node llamacpp_bench.mjs "$abs" "$P" "$N" "$R" 2>/dev/null)
  # vkllm starts truly cold too: empty Mesa shader cache, no pipeline cache.
  cold=$(mktemp -d)
  v=$(MESA_SHADER_CACHE_DIR=$cold VKLLM_NO_PIPELINE_CACHE=1 \
      build/bin/vkllm bench -m "$abs" -p "$P" -n "$N" -r "$R" --json 2>/dev/null)
  rm -rf "$cold"
  for t in "pp$P" "tg$N"; do
    a=$(echo "$l" | tps "$t"); b=$(echo "$v" | tps "$t")
    printf "| %s | %s | %.1f | %.1f | %.1fx |\n" "$(basename "$m")" "$t" "$a" "$b" \
      "$(awk "BEGIN{print $b / $a}")"
  done
  a=$(echo "$l" | ms ttft_cold); b=$(echo "$v" | ms ttft_cold)
  printf "| %s | cold first token (ms) | %.0f | %.0f | %.1fx |\n" "$(basename "$m")" "$a" "$b" \
    "$(awk "BEGIN{print $a / $b}")"
done
