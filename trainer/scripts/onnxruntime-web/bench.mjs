// The gallery's painter against onnxruntime-web on the same generator, in one headless Chromium:
// our page on its CPU fallback (`?backend=cpu`, "More portraits": 16 portraits, the page's own
// `lastBatchMs`, a worker round trip) and onnxruntime-web's WebAssembly backend (SIMD, one thread,
// `session.run` alone on the same 16 latents), alternating round by round; medians. Each page is
// brought to the front for its own batches, as a visitor sees it: left behind the other page, the
// gallery's round trips came in ~17 ms steps (33 or 51 ms for a 26-33 ms paint), the background
// tab's scheduling rather than its painter.
//
// usage: node bench.mjs DIST MODEL.onnx LATENTS.json [ROUNDS] [BATCHES]
//   DIST          the built site (`trunk build --release` → dist/)
//   MODEL.onnx    the same painter as ONNX (onnx_from_safetensors.py)
//   LATENTS.json  seeds 0–15's latents ([[128 floats] × 16], shared/latent_reference.py)
import { chromium } from 'playwright-core';
import { createServer } from 'node:http';
import { readFile, mkdtemp } from 'node:fs/promises';
import { join, extname, resolve, dirname } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';

const [dist, model, latents] = process.argv.slice(2, 5).map((p) => p && resolve(p));
const rounds = Number(process.argv[5] ?? 3);
const batches = Number(process.argv[6] ?? 10);
if (!dist || !model || !latents) {
  console.error('usage: node bench.mjs DIST MODEL.onnx LATENTS.json [ROUNDS] [BATCHES]');
  process.exit(2);
}
const here = dirname(fileURLToPath(import.meta.url));
const ort = join(here, 'node_modules/onnxruntime-web/dist');
const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm',
  '.css': 'text/css', '.json': 'application/json' };
const ORT_PAGE = `<!doctype html><meta charset="utf-8"><title>onnxruntime-web</title><link rel="icon" href="data:,"><script type="module">
import * as ort from '/__ort/ort.wasm.min.mjs';
window.addEventListener('unhandledrejection', () => { document.body.dataset.state = 'error'; });
ort.env.wasm.numThreads = 1;
ort.env.wasm.simd = true;
ort.env.wasm.wasmPaths = '/__ort/';
const session = await ort.InferenceSession.create('/__model.onnx', { executionProviders: ['wasm'] });
const latents = await (await fetch('/__latents.json')).json();
const z = new ort.Tensor('float32', Float32Array.from(latents.flat()), [latents.length, latents[0].length, 1, 1]);
window.paint = async () => {
  const t0 = performance.now();
  const { image } = await session.run({ z });
  return { ms: performance.now() - t0, first: Array.from(image.data.slice(0, 3 * 64 * 64)) };
};
await window.paint();
document.body.dataset.state = 'ready';
</script>`;

const server = createServer(async (req, res) => {
  const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
  let file;
  if (path === '/__ort.html') { res.writeHead(200, { 'Content-Type': 'text/html' }).end(ORT_PAGE); return; }
  if (path === '/__model.onnx') file = model;
  else if (path === '/__latents.json') file = latents;
  else if (path.startsWith('/__ort/')) file = join(ort, path.slice('/__ort/'.length));
  else file = join(dist, path === '/' ? 'index.html' : path);
  try {
    const body = await readFile(file);
    res.writeHead(200, { 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(body);
  } catch { res.writeHead(404).end(); }
});
await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
const base = `http://127.0.0.1:${server.address().port}`;
const context = await chromium.launchPersistentContext(await mkdtemp(join(tmpdir(), 'bench-')), {
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', headless: true,
  args: ['--no-sandbox', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic'],
});
const ready = (page) => page.waitForFunction(() => ['ready', 'error'].includes(document.body.dataset.state), null, { timeout: 120_000 });
const ours = await context.newPage();
const [current] = JSON.parse(await readFile(join(dist, 'assets/painters.json'), 'utf8')).painters;
await ours.goto(`${base}/?backend=cpu#seed=0&painter=${current.id}`);
await ready(ours);
const theirs = await context.newPage();
for (const page of [ours, theirs]) {
  page.on('pageerror', (e) => console.error(`[page error] ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error' || process.env.DEBUG) console.error(`[console] ${m.text()}`); });
  page.on('requestfailed', (r) => console.error(`[request failed] ${r.url()} ${r.failure()?.errorText}`));
  if (process.env.DEBUG) page.on('response', (r) => console.error(`[${r.status()}] ${r.url()}`));
}
await theirs.goto(`${base}/__ort.html`);
await ready(theirs);
for (const [page, what] of [[ours, 'the gallery'], [theirs, 'onnxruntime-web']]) {
  if (await page.evaluate(() => document.body.dataset.state) !== 'ready') throw new Error(`${what} did not start (see the errors above)`);
}

// The same generator: onnxruntime-web's portrait of seed 0 against ours, pixel by pixel.
const { first } = await theirs.evaluate(() => window.paint());
const ourSeed0 = await ours.evaluate(() => {
  const c = document.getElementById('portrait-canvas');
  return Array.from(c.getContext('2d').getImageData(0, 0, 64, 64).data);
});
const byte = (v) => Math.min(255, Math.max(0, Math.round((v + 1) * 127.5)));
let worst = 0;
for (let i = 0; i < 64 * 64; i++) for (let k = 0; k < 3; k++) worst = Math.max(worst, Math.abs(byte(first[k * 4096 + i]) - ourSeed0[i * 4 + k]));
console.log(`seed 0 by onnxruntime-web vs the gallery: worst ${worst}/255 (the same generator)`);

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
const all = { ours: [], theirs: [] };
for (let round = 1; round <= rounds; round++) {
  const ourMs = [];
  await ours.bringToFront();
  for (let b = 0; b < batches; b++) {
    const count = await ours.evaluate(() => document.getElementById('grid').children.length);
    await ours.click('#more');
    await ours.waitForFunction((n) => document.getElementById('grid').children.length === n + 16, count, { timeout: 120_000 });
    ourMs.push(Number(await ours.evaluate(() => document.body.dataset.lastBatchMs)));
  }
  const theirMs = [];
  await theirs.bringToFront();
  for (let b = 0; b < batches; b++) theirMs.push((await theirs.evaluate(() => window.paint())).ms);
  all.ours.push(...ourMs);
  all.theirs.push(...theirMs);
  console.log(`round ${round}: 16 portraits, median of ${batches}: atelier ${median(ourMs).toFixed(1)} ms (fastest ${Math.min(...ourMs).toFixed(1)}), onnxruntime-web ${median(theirMs).toFixed(1)} ms (fastest ${Math.min(...theirMs).toFixed(1)}); ratio ${(median(theirMs) / median(ourMs)).toFixed(2)}×`);
}
console.log(`all rounds: atelier ${median(all.ours).toFixed(1)} ms, onnxruntime-web ${median(all.theirs).toFixed(1)} ms: atelier at ${(median(all.theirs) / median(all.ours)).toFixed(2)}× onnxruntime-web's speed (above 1: faster)`);
await context.close();
server.close();
