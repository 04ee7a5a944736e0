#!/usr/bin/env bash
# On a lent device machine, after bench/device_prepare.sh here: brings the Vulkan loader, lists
# the devices, runs every test binary with the validation layer on, then `vkllm bench` on the
# 110M presets (Q4_0, Q8_0, F16) and the 1B Q4_0 preset and `vkllm profile` of the 1B and 110M
# Q4_0 decode. Results go to $OUT: devices.txt, tests.txt, bench.txt (JSON lines),
# profile-1B-Q4_0.txt, profile-110M-Q4_0.txt. Not yet run on a GPU: the dry run below takes 2 min
# 43 s on 2 cores, mostly the tests; give the device call timeout_s 540.
# Here (lavapipe) as a dry run: DEVICE_RUN_LOCAL=1 (no packages unpacked into /) and QUICK=1
# (small runs).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/device-out}
mkdir -p "$OUT"
root=$PWD
[ -x .dev/bin/vkllm ] || { echo "error: .dev/bin/vkllm missing: run bench/device_prepare.sh here first" >&2; exit 1; }
if [ "${DEVICE_RUN_LOCAL:-0}" != 1 ]; then
  for f in .dev/debs/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
B=$root/.dev/bin/vkllm
tmp=$(mktemp -d)
step() { echo "== $* ($(date -u +%T))"; }

step devices
"$B" devices >"$OUT/devices.txt" 2>&1
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if ! grep -q "discrete\|integrated" "$OUT/devices.txt" && [ -f $icd ]; then
  # The driver's ICD manifest, where the loader does not find it by itself.
  export VK_DRIVER_FILES=$icd
  "$B" devices >"$OUT/devices.txt" 2>&1
fi
cat "$OUT/devices.txt"

step tests
tar -C "$tmp" -xJf .dev/tests.tar.xz
export MESA_SHADER_CACHE_DIR=$tmp/mesa-shader-cache VKLLM_PIPELINE_CACHE_DIR=$tmp/pipeline-cache
export VKLLM_SHARED_DIR=$root/.dev/shared VKLLM_SOURCE_DIR=$root VKLLM_BINARY=$B VKLLM_VALIDATION=1
export LP_NUM_THREADS=0  # as ctest sets it: lavapipe in a dry run here; no effect elsewhere
pass=0 fail=0
: >"$OUT/tests.txt"
for t in "$tmp"/tests/*; do
  start=$(date +%s%N)
  if timeout 300 "$t" >"$tmp/log" 2>&1; then r=passed; pass=$((pass + 1)); else r=FAILED; fail=$((fail + 1)); fi
  ms=$((($(date +%s%N) - start) / 1000000))
  printf '%-36s %s %6d ms\n' "$(basename "$t")" "$r" "$ms" >>"$OUT/tests.txt"
  [ $r = passed ] || tail -n 30 "$tmp/log" | sed 's/^/    /' >>"$OUT/tests.txt"
done
echo "tests: $pass passed, $fail failed" | tee -a "$OUT/tests.txt"

step models
P=512 N=128 R=3 presets="110M-Q4_0 110M-Q8_0 110M-F16 1B-Q4_0"
if [ "${QUICK:-0}" = 1 ]; then P=32 N=8 R=1 presets="15M-Q4_0 15M-Q8_0"; fi
for m in $presets; do "$B" make-model --preset "${m%-*}" --type "${m#*-}" -o "$tmp/$m.gguf" 2>&1 | tail -n 1; done

step bench
: >"$OUT/bench.txt"
for m in $presets; do "$B" bench -m "$tmp/$m.gguf" -p $P -n $N -r $R --json >>"$OUT/bench.txt" 2>&1; done
cat "$OUT/bench.txt"

step profile
for m in $presets; do
  case $m in *Q4_0) ;; *) continue ;; esac
  "$B" profile -m "$tmp/$m.gguf" -p 128 -n 32 >"$OUT/profile-$m.txt" 2>&1
  grep -E "ceilings|matvec ceiling|decode step" "$OUT/profile-$m.txt"
done
step done
rm -rf "$tmp"
