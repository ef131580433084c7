// The gallery page: fetches the weights, starts the painter (WebAssembly + WebGPU, or the CPU
// fallback) and draws portraits. Nothing taken from the URL is ever inserted as HTML: text goes
// through textContent and seeds through the strict parser in Rust.
import init, { Painter, parseSeed } from './atelier-web.js';

// The shipped generator, or the one `cargo run -p trainer --release` (the demo) just trained.
const WEIGHTS = new URLSearchParams(location.search).get('weights') === 'demo' ? 'assets/demo.bpk' : 'assets/generator.bpk';
const SEEDS = 'assets/seeds.json';
const PAGE = 16;
const MAX_SEED = '18446744073709551615';

const $ = (id) => document.getElementById(id);
const state = { painter: null, seeds: [], shown: 0, started: performance.now(), firstPortrait: false };

function setStatus(text) { $('status').textContent = text; }
function showMessage(text) { const m = $('message'); m.textContent = text; m.hidden = !text; }
function fail(text) { showMessage(text); setStatus('Not ready'); $('progress').hidden = true; document.body.dataset.state = 'error'; }

async function fetchWithProgress(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`the weights file ${url} could not be loaded (HTTP ${response.status})`);
  const total = Number(response.headers.get('Content-Length')) || 0;
  const reader = response.body.getReader();
  const chunks = [];
  let received = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    received += value.length;
    if (total) $('progress').value = received / total;
    setStatus(`Loading the painter’s weights… ${(received / 1e6).toFixed(1)} MB`);
  }
  const bytes = new Uint8Array(received);
  let at = 0;
  for (const chunk of chunks) { bytes.set(chunk, at); at += chunk.length; }
  return bytes;
}

function draw(canvas, rgba, index, size) {
  const pixels = new Uint8ClampedArray(rgba.buffer, rgba.byteOffset + index * size * size * 4, size * size * 4);
  canvas.getContext('2d').putImageData(new ImageData(pixels, size, size), 0, 0);
  if (!state.firstPortrait) {
    state.firstPortrait = true;
    document.body.dataset.firstPortraitMs = String(Math.round(performance.now() - state.started));
  }
}

async function paint(seeds) {
  const t0 = performance.now();
  const rgba = await state.painter.paint(BigUint64Array.from(seeds));
  const ms = performance.now() - t0;
  $('timing').textContent = `${seeds.length} portrait${seeds.length > 1 ? 's' : ''} in ${ms.toFixed(0)} ms on ${state.painter.deviceName}`;
  document.body.dataset.lastBatchMs = String(Math.round(ms));
  return rgba;
}

function newCanvas(size) {
  const canvas = document.createElement('canvas');
  canvas.width = size;
  canvas.height = size;
  return canvas;
}

async function showMore() {
  const size = state.painter.imageSize;
  const seeds = [];
  for (let i = 0; i < PAGE; i++) seeds.push(nextSeed());
  const rgba = await paint(seeds);
  seeds.forEach((seed, i) => {
    const figure = document.createElement('figure');
    const link = document.createElement('a');
    link.href = `#seed=${seed}`;
    const canvas = newCanvas(size);
    canvas.title = `Portrait ${seed}`;
    draw(canvas, rgba, i, size);
    const caption = document.createElement('figcaption');
    caption.textContent = String(seed);
    link.append(canvas, caption);
    figure.append(link);
    $('grid').append(figure);
  });
  document.body.dataset.galleryCount = String($('grid').children.length);
}

function nextSeed() {
  const i = state.shown++;
  return i < state.seeds.length ? state.seeds[i] : BigInt(i);
}

async function showPortrait(seed) {
  const size = state.painter.imageSize;
  const rgba = await paint([seed]);
  draw($('portrait-canvas'), rgba, 0, size);
  $('portrait-seed').textContent = String(seed);
  $('portrait').hidden = false;
  document.body.dataset.portraitSeed = String(seed);
}

/** The seed the URL asks for: `#seed=N` or `?seed=N`; undefined for none, null for an invalid one. */
function requestedSeed() {
  const hash = new URLSearchParams(location.hash.slice(1));
  const query = new URLSearchParams(location.search);
  const text = hash.get('seed') ?? query.get('seed');
  if (text === null) return { text: null, seed: undefined };
  const seed = parseSeed(text);
  return { text, seed: seed === undefined ? null : seed };
}

async function route() {
  document.body.dataset.state = 'busy';
  showMessage('');
  $('portrait').hidden = true;
  const { text, seed } = requestedSeed();
  if (seed === null) {
    const shown = text.length > 60 ? `${text.slice(0, 60)}…` : text;
    showMessage(`“${shown}” is not a portrait seed. Seeds are whole numbers from 0 to ${MAX_SEED}; here is the gallery instead.`);
  } else if (seed !== undefined) {
    await showPortrait(seed);
  }
  if ($('grid').children.length === 0) await showMore();
  $('gallery').hidden = false;
  $('blend').hidden = false;
  document.body.dataset.state = 'ready';
}

async function blend(event) {
  event.preventDefault();
  const a = parseSeed($('blend-a').value);
  const b = parseSeed($('blend-b').value);
  if (a === undefined || b === undefined) { showMessage(`Seeds are whole numbers from 0 to ${MAX_SEED}.`); return; }
  showMessage('');
  const steps = 8;
  const size = state.painter.imageSize;
  const rgba = await state.painter.interpolate(a, b, steps);
  const strip = $('strip');
  strip.replaceChildren();
  for (let i = 0; i < steps; i++) {
    const canvas = newCanvas(size);
    draw(canvas, rgba, i, size);
    strip.append(canvas);
  }
}

function download() {
  const source = $('portrait-canvas');
  const big = newCanvas(source.width * 4);
  const context = big.getContext('2d');
  context.imageSmoothingEnabled = false;
  context.drawImage(source, 0, 0, big.width, big.height);
  big.toBlob((blob) => {
    const link = document.createElement('a');
    link.href = URL.createObjectURL(blob);
    link.download = `atelier-portrait-${$('portrait-seed').textContent}.png`;
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
  }, 'image/png');
}

async function copyLink() {
  const url = `${location.origin}${location.pathname}#seed=${$('portrait-seed').textContent}`;
  try {
    await navigator.clipboard.writeText(url);
    showMessage('Link copied.');
  } catch {
    showMessage(`Copy this link: ${url}`);
  }
}

async function main() {
  document.body.dataset.state = 'loading';
  try {
    setStatus('Starting…');
    await init({ module_or_path: './atelier-web_bg.wasm' });
    const weights = await fetchWithProgress(WEIGHTS);
    try {
      const list = await fetch(SEEDS);
      if (list.ok) state.seeds = (await list.json()).map((s) => BigInt(s));
    } catch { /* no curated list: seeds 0, 1, 2, … */ }
    setStatus('Starting the painter…');
    const backend = new URLSearchParams(location.search).get('backend') ?? 'auto';
    state.painter = await Painter.create(weights, backend);
    $('progress').hidden = true;
    setStatus(`Painting on ${state.painter.deviceName}`);
    document.body.dataset.device = state.painter.deviceName;
    document.body.dataset.fellBack = String(state.painter.fellBack);
  } catch (error) {
    fail(`The painter could not start: ${error.message ?? error}`);
    return;
  }
  // Runs an async handler; a failure becomes the page's error message.
  const guarded = (handler) => (...args) => handler(...args).catch((e) => fail(String(e.message ?? e)));
  $('more').addEventListener('click', guarded(showMore));
  $('blend-form').addEventListener('submit', guarded(blend));
  $('download').addEventListener('click', download);
  $('copy-link').addEventListener('click', copyLink);
  window.addEventListener('hashchange', guarded(route));
  await guarded(route)();
}

main();
