#!/usr/bin/env bash
# One command from a fresh machine: install, build, and generate a story with the embedded
# default model. Extra arguments go to `vkllm run`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
export MESA_SHADER_CACHE_DIR="${MESA_SHADER_CACHE_DIR:-$PWD/build/mesa-shader-cache}"
if [ $# -eq 0 ]; then set -- -p "Once upon a time" -n 128; fi
exec build/bin/vkllm run "$@"
