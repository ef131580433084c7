// The gallery page: picks the painter a link names, fetches its weights (or takes them from this
// browser's cache), starts it and draws portraits. The generator itself (WebAssembly + WebGPU, or
// the CPU fallback) runs in `worker.js`, off this thread, so the page stays responsive while it
// paints. Nothing taken from the URL is ever inserted as HTML: text goes through textContent,
// seeds and painter ids through the strict parsers in Rust.

// The painters the page ships (`assets/painters.json`, the default first); `?weights=demo`
// paints with the one `cargo run -p trainer --release` (the demo) just trained instead.
const MANIFEST = 'assets/painters.json';
const DEMO = new URLSearchParams(location.search).get('weights') === 'demo';
const PAGE = 16;
const MAX_SEED = '18446744073709551615';

// A painter's weights never change under its id (the start of the file's SHA-256), so a copy kept
// under the id serves every later visit without the network.
const WEIGHTS_CACHE = 'atelier-painters';

const $ = (id) => document.getElementById(id);
const state = { painter: null, manifest: null, entry: null, notice: '', seeds: [], shown: 0, started: performance.now(), firstPortrait: false };

// `?backend=webgpu` or `?backend=cpu` forces a backend (and the module the worker loads).
const BACKEND = new URLSearchParams(location.search).get('backend') ?? 'auto';

/** The painter's thread, and `ask(call, args)`: a promise of what `worker.js` answers. */
const worker = new Worker(`./worker.js?backend=${encodeURIComponent(BACKEND)}`, { type: 'module' });
const pending = new Map();
let nextCall = 0;
function ask(call, args, transfer = []) {
  return new Promise((resolve, reject) => {
    const id = nextCall++;
    pending.set(id, { resolve, reject });
    worker.postMessage({ id, call, args }, transfer);
  });
}
worker.onmessage = ({ data: { id, result, error } }) => {
  const call = pending.get(id);
  pending.delete(id);
  if (error === undefined) call.resolve(result); else call.reject(new Error(error));
};
worker.onerror = (event) => {
  event.preventDefault();
  const error = new Error(`the painter's thread stopped (${event.message || 'worker.js could not be loaded'})`);
  for (const call of pending.values()) call.reject(error);
  pending.clear();
};
/** The strict parsers (in Rust): a seed or painter id as text → its value, or undefined. */
const parseSeed = async (text) => (await ask('parse', { seed: text, painterId: null })).seed;
const parsePainterId = async (text) => (await ask('parse', { seed: null, painterId: text })).painterId;

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
  const rgba = await ask('paint', { seeds });
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
    link.href = portraitLink(seed);
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

/** The fragment of a link to one portrait: its seed and the painter that paints it. */
function portraitLink(seed) {
  return `#seed=${seed}&painter=${state.painter.id}`;
}

/** A URL parameter, from the fragment (`#seed=42&painter=fae341`) or the query. */
function urlParameter(name) {
  return new URLSearchParams(location.hash.slice(1)).get(name) ?? new URLSearchParams(location.search).get(name);
}

const quoted = (text) => `“${text.length > 60 ? `${text.slice(0, 60)}…` : text}”`;

/**
 * The manifest entry of the painter the URL asks for, and a sentence for the visitor where it is
 * not the one the link names. A seed without a painter id is a link from before ids, which means
 * the painter of those days (the manifest's `without_id`); the page without a seed, an id the
 * page no longer ships, or an invalid one, gets the current painter (the manifest's first).
 */
async function requestedPainter(manifest) {
  const [current] = manifest.painters;
  const byId = (id) => manifest.painters.find((p) => p.id === id);
  const text = urlParameter('painter');
  if (text === null) {
    const linkFromBeforeIds = urlParameter('seed') !== null;
    return { entry: (linkFromBeforeIds && byId(manifest.without_id)) || current, notice: '' };
  }
  const id = await parsePainterId(text);
  if (id === undefined) {
    return { entry: current, notice: `${quoted(text)} is not a painter id, so this is the gallery’s current painter (${current.id}).` };
  }
  const entry = byId(id);
  if (!entry) {
    return { entry: current, notice: `This link was made with painter ${id}, which this gallery no longer has: this is the same seed by its current painter (${current.id}), a different portrait.` };
  }
  return { entry, notice: entry === current ? '' : `Painted by an earlier painter of this gallery (${id}); its current painter is ${current.id}.` };
}

/** The seed the URL asks for: `#seed=N` or `?seed=N`; undefined for none, null for an invalid one. */
async function requestedSeed() {
  const text = urlParameter('seed');
  if (text === null) return { text: null, seed: undefined };
  const seed = await parseSeed(text);
  return { text, seed: seed === undefined ? null : seed };
}

async function route() {
  if (state.manifest && (await requestedPainter(state.manifest)).entry !== state.entry) {
    // A link to another painter: start the page again with its weights.
    location.reload();
    return;
  }
  document.body.dataset.state = 'busy';
  showMessage(state.notice);
  $('portrait').hidden = true;
  const { text, seed } = await requestedSeed();
  if (seed === null) {
    showMessage(`${quoted(text)} is not a portrait seed. Seeds are whole numbers from 0 to ${MAX_SEED}; here is the gallery instead.`);
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
  const a = await parseSeed($('blend-a').value);
  const b = await parseSeed($('blend-b').value);
  if (a === undefined || b === undefined) { showMessage(`Seeds are whole numbers from 0 to ${MAX_SEED}.`); return; }
  showMessage('');
  const steps = 8;
  const size = state.painter.imageSize;
  const rgba = await ask('interpolate', { a, b, steps });
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
  const url = `${location.origin}${location.pathname}${portraitLink($('portrait-seed').textContent)}`;
  try {
    await navigator.clipboard.writeText(url);
    showMessage('Link copied.');
  } catch {
    showMessage(`Copy this link: ${url}`);
  }
}

/** This browser's cache of painters' weights, or null where it has none (or refuses it). */
async function weightsCache() {
  try { return 'caches' in self ? await caches.open(WEIGHTS_CACHE) : null; } catch { return null; }
}
const cacheKey = (entry) => `assets/${entry.weights}?painter=${entry.id}`;

/**
 * Starts the painter of manifest entry `entry` in the worker: its weights from this browser's
 * cache where an earlier visit kept them, else from the network (then kept, once the painter has
 * confirmed the file is the one its id names). A kept copy that is not is dropped and fetched again.
 */
async function startPainter(entry, cache) {
  const key = entry.id && cache ? cacheKey(entry) : null;
  const kept = key && await cache.match(key);
  const weights = kept ? new Uint8Array(await kept.arrayBuffer()) : await fetchWithProgress(`assets/${entry.weights}`);
  const copy = key && !kept ? new Blob([weights]) : null;
  document.body.dataset.weightsFrom = kept ? 'cache' : 'network';
  setStatus('Starting the painter…');
  const painter = await ask('start', { weights }, [weights.buffer]);
  if (entry.id && painter.id !== entry.id) {
    if (kept) { await cache.delete(key); return startPainter(entry, cache); }
    throw new Error(`assets/${entry.weights} is not painter ${entry.id} (its id is ${painter.id})`);
  }
  // A full or refused cache only means the next visit downloads the weights again.
  if (copy) await cache.put(key, new Response(copy)).catch(() => {});
  return painter;
}

/** Drops kept weights of painters the manifest no longer names. */
async function forgetOldPainters(cache, manifest) {
  const shipped = new Set(manifest.painters.map((p) => p.id));
  for (const request of await cache.keys()) {
    if (!shipped.has(new URL(request.url).searchParams.get('painter'))) await cache.delete(request);
  }
}

async function main() {
  document.body.dataset.state = 'loading';
  try {
    setStatus('Starting…');
    let cache = null;
    if (DEMO) {
      // The demo's weights change with every run: never kept.
      state.entry = { weights: 'demo.bpk', seeds: 'seeds.json' };
    } else {
      const response = await fetch(MANIFEST);
      if (!response.ok) throw new Error(`the list of painters ${MANIFEST} could not be loaded (HTTP ${response.status})`);
      state.manifest = await response.json();
      ({ entry: state.entry, notice: state.notice } = await requestedPainter(state.manifest));
      cache = await weightsCache();
    }
    try {
      const list = await fetch(`assets/${state.entry.seeds}`);
      if (list.ok) state.seeds = (await list.json()).map((s) => BigInt(s));
    } catch { /* no curated list: seeds 0, 1, 2, … */ }
    state.painter = await startPainter(state.entry, cache);
    if (cache) forgetOldPainters(cache, state.manifest).catch(() => {});
    document.body.dataset.painter = state.painter.id;
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
