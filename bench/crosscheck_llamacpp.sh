#!/usr/bin/env bash
# Cross-checks vkllm's model semantics with llama.cpp (prebuilt, from the npm registry; its CPU
# backend) on what has no real model offline: next-token probabilities of random llama models
# with RoPE base 500000, linear RoPE scaling and Llama 3.1's rope_freqs.weight (each also against
# the plain model, to show the check would notice a difference), and token ids of 300 seeded
# random texts under the SentencePiece and the three byte-level BPE tokenizers. Prints markdown
# tables; exits non-zero if vkllm and llama.cpp disagree.
#
# Usage: bench/crosscheck_llamacpp.sh   (needs node and npm)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/llamacpp_env.sh
install_llamacpp
build=${BUILD_DIR:-build}
[ -f "$build/build.ninja" ] || cmake -S . -B "$build" -G Ninja >&2
cmake --build "$build" --target vkllm llama_crosscheck >&2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$build/bin/llama_crosscheck" write "$work"
# BOS, then 79 seeded ids of the 512-token vocabulary's ordinary tokens (0..509).
ids=(510)
s=7
for _ in $(seq 79); do s=$(( (s * 1103515245 + 12345) % 2147483648 )); ids+=($(( s % 510 ))); done
echo "[$(IFS=,; echo "${ids[*]}")]" > "$work/ids.json"
quant="q8_0 q4_0 q4_1 q5_0 q5_1 q2_k q3_k q4_k q5_k q6_k iq4_nl iq4_xs"  # llama_crosscheck's
echo "$quant" > "$work/quant.txt"
for v in plain linear freqs $quant; do
  "$build/bin/llama_crosscheck" probs "$work/$v.gguf" "${ids[@]}" 2>/dev/null > "$work/$v.probs.json"
done
printf '%s\n' llama gpt-2 llama-bpe smollm > "$work/tokenizers.txt"
for t in llama gpt-2 llama-bpe smollm; do
  # The 15M preset's vocabulary of 32000: every merge the built-in text has, then reserved tokens.
  "$build/bin/vkllm" make-model --preset 15M --type Q4_0 --tokenizer "$t" -o "$work/tok-$t.gguf" \
    >/dev/null 2>&1
done
cp bench/llamacpp_crosscheck.mjs "$LLAMACPP_DIR/"
node "$LLAMACPP_DIR/llamacpp_crosscheck.mjs" "$(realpath "$build/bin/vkllm")" "$work"
