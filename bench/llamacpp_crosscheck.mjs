// Part of bench/crosscheck_llamacpp.sh: compares vkllm with llama.cpp (node-llama-cpp) on
// (1) next-token probabilities of llama variants, read from vkllm's JSON files, and (2) token ids
// of seeded random texts under each tokenizer, from `vkllm tokenize`. Prints markdown tables;
// exits 1 if anything disagrees beyond the stated bounds.
// Usage: node llamacpp_crosscheck.mjs VKLLM_BIN WORKDIR
import {getLlama} from "node-llama-cpp";
import {execFileSync} from "child_process";
import fs from "fs";

const [vkllm, work] = [process.argv[2], process.argv[3]];
const llama = await getLlama({gpu: false, build: "never", logLevel: "error"});
let failed = false;
// (1b): llama.cpp's activation rounding alone gives ~2e-3 here (2026-12-03, every format).
const QUANT_MAX_MEDIAN = 5e-3, QUANT_MIN_TOP1 = 75;

// (1) Probabilities: the 5 most likely next tokens at each position, both sides.
const ids = JSON.parse(fs.readFileSync(`${work}/ids.json`, "utf8"));
async function llamaProbs(path) {
  const m = await llama.loadModel({modelPath: path, gpuLayers: 0});
  const ctx = await m.createContext({contextSize: 256, sequences: 1});
  const opts = {probabilities: true, options: {temperature: 1, topK: 0, topP: 1, minP: 0}};
  const res = await ctx.getSequence().controlledEvaluate(ids.map((t) => [t, {generateNext: opts}]));
  const out = res.map((r) => new Map(Array.from(r.next.probabilities.entries()).slice(0, 5)));
  await ctx.dispose();
  await m.dispose();
  return out;
}
// Relative differences of vkllm's 3 most likely tokens' probabilities against `ref`, and how
// many positions have the same most likely token.
function compare(vk, ref) {
  const d = [];
  let top1 = 0;
  vk.forEach((pos, t) => {
    if (pos[0][0] === ref[t].keys().next().value) ++top1;
    for (const [id, p] of pos.slice(0, 3)) if (ref[t].has(id)) d.push(Math.abs(p - ref[t].get(id)) / ref[t].get(id));
  });
  d.sort((a, b) => a - b);
  return {max: d[d.length - 1], median: d[d.length >> 1], top1};
}
const variants = ["plain", "linear", "freqs"];
const ref = {};
for (const v of variants) ref[v] = await llamaProbs(`${work}/${v}.gguf`);
console.log(`| model | vs llama.cpp's | top-1 same | max rel. diff | median rel. diff |`);
console.log(`|---|---|---:|---:|---:|`);
for (const v of variants) {
  const vk = JSON.parse(fs.readFileSync(`${work}/${v}.probs.json`, "utf8"));
  for (const r of v === "plain" ? ["plain"] : [v, "plain"]) {
    const c = compare(vk, ref[r]);
    console.log(`| ${v} | ${r} | ${c.top1}/${ids.length} | ${c.max.toExponential(2)} | ${c.median.toExponential(2)} |`);
    if (r === v && !(c.max < 1e-3)) failed = true;
  }
}

// (1b) The weight formats: the plain model's weights in each, vkllm's probabilities against
// llama.cpp's on the same file and against llama.cpp's F32 plain model (what the quantization
// itself moves). llama.cpp's CPU backend also rounds the activations (to Q8_0 / Q8_K) for these
// products, vkllm keeps them f32, so the two agree less closely than on the F32 files; a format
// read wrongly would disagree as much as a different model does.
const quant = fs.readFileSync(`${work}/quant.txt`, "utf8").trim().split(/\s+/);
console.log(`\n| format | top-1 same | median rel. diff vs llama.cpp, same file | ` +
            `median rel. diff vs llama.cpp's F32 model | ratio |`);
console.log(`|---|---:|---:|---:|---:|`);
for (const q of quant) {
  const vk = JSON.parse(fs.readFileSync(`${work}/${q}.probs.json`, "utf8"));
  const same = compare(vk, await llamaProbs(`${work}/${q}.gguf`)), f32 = compare(vk, ref.plain);
  const ratio = f32.median / same.median;
  console.log(`| ${q.toUpperCase()} | ${same.top1}/${ids.length} | ${same.median.toExponential(2)} | ` +
              `${f32.median.toExponential(2)} | ${ratio.toFixed(1)} |`);
  if (!(same.median < QUANT_MAX_MEDIAN) || same.top1 < QUANT_MIN_TOP1) failed = true;
}

// (2) Tokenization of seeded random texts, special tokens parsed and not.
let seed = 12345;
const rnd = (n) => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) % n;
const chars = [..."aAbBsStTdDmMlLrReEvV'  \t\n\r0123456789.,!?-()\"", "é", "ß", "Ω", "你", "好", "😀",
               "\u00a0", "\u2003", "\u0301", "١", "²", "Ⅻ"];
const words = ["don't", "I'LL", "we've", "Lily", "Once upon a time", "123456", "   ", "\n\n", " 's",
               "<|begin_of_text|>", "<|end_of_text|>", "<s>", "</s>"];
const texts = [];
for (let i = 0; i < 300; ++i) {
  let s = "";
  for (let n = 1 + rnd(30); n > 0; --n) s += rnd(10) < 7 ? chars[rnd(chars.length)] : words[rnd(words.length)];
  texts.push(s);
}
console.log(`\n| tokenizer | texts | same ids (special tokens parsed) | same ids (as text) |`);
console.log(`|---|---:|---:|---:|`);
for (const tok of fs.readFileSync(`${work}/tokenizers.txt`, "utf8").trim().split("\n")) {
  const path = `${work}/tok-${tok}.gguf`;
  const m = await llama.loadModel({modelPath: path, vocabOnly: true});
  const same = [0, 0];
  texts.forEach((text, i) => {
    fs.writeFileSync(`${work}/text.txt`, text);
    [true, false].forEach((special, k) => {
      const args = ["tokenize", "-m", path, "-f", `${work}/text.txt`, "--no-bos"];
      if (!special) args.push("--no-special");
      const got = execFileSync(vkllm, args, {stdio: ["ignore", "pipe", "ignore"]}).toString().trim();
      const want = Array.from(m.tokenize(text, special)).join(" ");
      if (got === want) ++same[k];
      else if (!failed) console.error(`differs (${tok}, special ${special}): ${JSON.stringify(text)}: ${got} / ${want}`);
    });
  });
  console.log(`| ${tok} | ${texts.length} | ${same[0]} | ${same[1]} |`);
  if (same[0] !== texts.length || same[1] !== texts.length) failed = true;
  await m.dispose();
}
process.exit(failed ? 1 : 0);
