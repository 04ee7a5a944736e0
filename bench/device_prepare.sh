#!/usr/bin/env bash
# Prepares, on this machine, what bench/device_run.sh needs on a lent device machine (x86-64, no
# package registry there): the git-ignored folder .dev/ with the stripped vkllm binary and test
# binaries (those as one .tar.xz), the default model beside the binary, the shared test models,
# and as .deb files the Vulkan loader, libfmt and the Khronos validation layer. Then, with the
# device tool: run command "bash bench/device_run.sh", carry [".dev"], timeout_s 540 (about 3 MiB
# of binaries and 5 MiB of packages travel).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
[ -f "$build/build.ninja" ] || [ -f "$build/Makefile" ] || bash scripts/build.sh
cmake --build "$build" --parallel "$(nproc)" >/dev/null
rm -rf .dev
mkdir -p .dev/bin .dev/share/vkllm .dev/shared .dev/debs
strip -o .dev/bin/vkllm "$build/bin/vkllm"
cp third_party/stories260K.gguf .dev/share/vkllm/
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/tests"
for t in "$build"/tests/*_test_*; do
  [ -f "$t" ] && [ -x "$t" ] && strip -o "$tmp/tests/$(basename "$t")" "$t"
done
tar -C "$tmp" -cJf .dev/tests.tar.xz tests
cp -r ../shared/models .dev/shared/
# The device machine has the NVIDIA driver but maybe no Vulkan loader (docs: the device tool's
# notes); libglvnd and friends for the driver's ICD library.
(cd .dev/debs && apt-get download libvulkan1 libfmt9 vulkan-validationlayers libglvnd0 libegl1 \
   libgl1 libglx0 libopengl0 libgles2 2>/dev/null)
du -sh .dev
