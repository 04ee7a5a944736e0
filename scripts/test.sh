#!/usr/bin/env bash
# One command from a fresh machine: install, build, and run the whole test suite (Vulkan
# validation and synchronization validation on). ctest's summary is the last thing printed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
# Sanitizer job: the file-format layer and the CLI's bad-input handling under ASan+UBSan.
if [ "${VKLLM_SKIP_SANITIZE:-0}" != "1" ]; then
  cmake -S . -B build-asan -G Ninja -DVKLLM_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
  cmake --build build-asan --parallel "$(nproc)" >/dev/null
  echo "== sanitizer job (ASan+UBSan) ==" >&2
  ctest --test-dir build-asan -L sanitize --output-on-failure --timeout 900
fi
ctest --test-dir build --output-on-failure --timeout 900 -j "$(nproc)"
