// Times llama.cpp's Vulkan backend (through node-llama-cpp's prebuilt binaries) the way
// `vkllm bench` times vkllm: pp = one batch of P prompt tokens, tg = N single-token greedy steps
// after it; medians over R runs after a warm-up pass. Prints JSON lines like `vkllm bench --json`.
// Usage: node llamacpp_bench.mjs MODEL.gguf P N R
import {getLlama} from "node-llama-cpp";

const [model, P, N, R] = [process.argv[2], +process.argv[3], +process.argv[4], +process.argv[5]];
const median = (v) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const t0 = performance.now();
const llama = await getLlama({gpu: "vulkan", build: "never", logLevel: "error"});
const m = await llama.loadModel({modelPath: model, gpuLayers: "max"});
const ctx = await m.createContext({contextSize: Math.max(P + N + 8, 64), batchSize: Math.max(P, 1),
                                   sequences: 1});
const loadMs = performance.now() - t0;
const vocab = m.tokens;
// Seeded prompt of ordinary token ids after BOS (as vkllm bench does).
let seed = 1234;
const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0);
const nVocab = m.fileInsights?.metadata?.tokenizer?.ggml?.tokens?.length ?? 512;
const prompt = [1];
for (let i = 1; i < P; ++i) prompt.push(3 + (rnd() % (nVocab - 3)));

async function pass() {
  const seq = ctx.getSequence();
  const a = performance.now();
  await seq.evaluateWithoutGeneratingNewTokens(prompt);
  const ppMs = performance.now() - a;
  const b = performance.now();
  let n = 0;
  for await (const tok of seq.evaluate([prompt[prompt.length - 1]], {temperature: 0})) {
    if (++n >= N) break;
  }
  const tgMs = performance.now() - b;
  seq.dispose();
  return [ppMs, tgMs];
}
const cold = await pass();
const ttft = loadMs + cold[0];
const pp = [], tg = [];
for (let r = 0; r < R; ++r) {
  const [p, g] = await pass();
  pp.push(P * 1000 / p);
  tg.push(N * 1000 / g);
}
const gpu = (await llama.getGpuDeviceNames()).join(", ");
const line = (test, runs) => console.log(JSON.stringify(
    {test, model, device: gpu, tokens_per_second: median(runs), runs}));
line(`pp${P}`, pp);
line(`tg${N}`, tg);
console.log(JSON.stringify({test: "load", model, device: gpu, ms: loadMs}));
console.log(JSON.stringify({test: "ttft_cold", model, device: gpu, ms: ttft}));
void vocab;
await ctx.dispose();
await m.dispose();
