#!/usr/bin/env bash
# Cross-checks vkllm's CPU quantize/dequantize (quant/formats.h) against a real ggml build: the
# prebuilt libggml-base.so from the npm registry (node-llama-cpp with
# @node-llama-cpp/linux-x64-vulkan, installed into build/llamacpp-node like
# bench/compare_llamacpp.sh does), loaded by tools/ggml_crosscheck with dlopen(). Prints a markdown
# table; exits non-zero if any format differs.
#
# Usage: bench/crosscheck_ggml.sh [path/to/libggml-base.so]   (needs node and npm for the default)
set -euo pipefail
cd "$(dirname "$0")/.."

source bench/llamacpp_env.sh
dir=$LLAMACPP_DIR
lib=${1:-}
if [ -z "$lib" ]; then
  install_llamacpp
  lib=$dir/node_modules/@node-llama-cpp/linux-x64-vulkan/bins/linux-x64-vulkan/libggml-base.so
fi
[ -f "$lib" ] || { echo "error: $lib: no such file" >&2; exit 1; }

build=${BUILD_DIR:-build}
[ -f "$build/build.ninja" ] || cmake -S . -B "$build" -G Ninja >&2
cmake --build "$build" --target ggml_crosscheck >&2

ver=$(node -p "require('./$dir/node_modules/node-llama-cpp/package.json').version" 2>/dev/null || echo "?")
tag=$(node -p "require('./$dir/node_modules/node-llama-cpp/llama/llama.cpp.info.json').tag" 2>/dev/null || echo "?")
echo "ggml: $lib (node-llama-cpp $ver, llama.cpp/ggml tag $tag); date: $(date -u +%F)"
echo
"$build/bin/ggml_crosscheck" "$lib"
