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
const state = {
  painter: null, manifest: null, entry: null, notice: '', seeds: [], shown: 0, started: performance.now(), firstPortrait: false,
  // The painter's directions (their labels, strongest first; none where it ships no file), and
  // the portrait in the focus view: its seed and the canonical text of its edits.
  directions: [], portrait: null,
  // The two seeds of the last blend.
  blend: null,
  // The history entry the sliders last made for this portrait (replaced as they move on).
  lastSlid: null,
};

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
/** A link's edits → { edits: canonical text } or { refused: why }. */
const parseEdits = async (text) => {
  const { edits, editsRefused } = await ask('parse', { edits: text });
  return editsRefused === undefined ? { edits } : { refused: editsRefused };
};

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

/** The curated seeds first, best first; then seeds 0, 1, 2, … that are not among them. */
function nextSeed() {
  const i = state.shown++;
  if (i < state.seeds.length) return state.seeds[i];
  state.curated ??= new Set(state.seeds);
  state.plain ??= 0n;
  while (state.curated.has(state.plain)) state.plain++;
  return state.plain++;
}

/** Paints portrait `seed` moved by `edits` (canonical text, '' for none) into the focus view. */
async function paintPortrait(seed, edits) {
  const t0 = performance.now();
  const rgba = edits ? await ask('paintEdited', { seed, edits }) : await paint([seed]);
  draw($('portrait-canvas'), rgba, 0, state.painter.imageSize);
  state.portrait = { seed, edits };
  $('portrait-seed').textContent = String(seed);
  document.body.dataset.portraitSeed = String(seed);
  document.body.dataset.portraitEdits = edits;
  if (edits) document.body.dataset.lastEditMs = String(Math.round(performance.now() - t0));
}

async function showPortrait(seed, edits) {
  setSliders(edits);
  await paintPortrait(seed, edits);
  $('portrait').hidden = false;
  state.lastSlid = null;
  remember();
}

/** The fragment of a link to one portrait: its seed, the painter that paints it, and its edits. */
function portraitLink(seed, edits = '') {
  return `#seed=${seed}&painter=${state.painter.id}${edits ? `&edit=${edits}` : ''}`;
}

// Sliders: one per direction of the painter, α from -3 to 3 standard deviations in steps of 0.1.
// Moving one repaints the portrait in the worker (the newest position wins: positions that arrive
// while a portrait is painted are skipped, not queued) and keeps the link in the address bar.

/** The sliders' positions as edits text, every slider listed (`1:0.0,2:1.5,…`; see `parseEdits`). */
function slidersEdits() {
  return [...document.querySelectorAll('#sliders input[type=range]')].map((slider, i) => `${i + 1}:${Number(slider.value).toFixed(1)}`).join(',');
}

const amountText = (value) => `${value > 0 ? '+' : value < 0 ? '−' : ''}${Math.abs(value).toFixed(1)}`;

/** The slider's value in words (labels read "what −3 looks like ↔ what +3 looks like"). */
function describeSlider(slider, label) {
  const value = Number(slider.value);
  const [left, right] = label.includes(' ↔ ') ? label.split(' ↔ ') : [`away from ${label}`, label];
  const words = value === 0 ? 'the seed’s own (0)' : `${amountText(value)} standard deviations, towards ${value > 0 ? right : left}`;
  slider.setAttribute('aria-valuetext', words);
  slider.nextElementSibling.textContent = amountText(value);
}

function buildSliders(labels) {
  const list = $('slider-list');
  list.replaceChildren();
  labels.forEach((label, i) => {
    const row = document.createElement('div');
    row.className = 'slider';
    const name = document.createElement('label');
    name.htmlFor = `slider-${i + 1}`;
    name.textContent = `${i + 1}. ${label}`;
    const slider = document.createElement('input');
    Object.assign(slider, { type: 'range', id: `slider-${i + 1}`, min: '-3', max: '3', step: '0.1', value: '0' });
    const amount = document.createElement('output');
    amount.htmlFor = slider.id;
    slider.addEventListener('input', () => { describeSlider(slider, label); sliderMoved(); });
    row.append(name, slider, amount);
    list.append(row);
    describeSlider(slider, label);
  });
  $('sliders').hidden = labels.length === 0;
}

/** Puts the sliders where `edits` (canonical text) says; the others at 0. */
function setSliders(edits) {
  const amounts = new Map(edits ? edits.split(',').map((part) => part.split(':').map(Number)) : []);
  document.querySelectorAll('#sliders input[type=range]').forEach((slider, i) => {
    slider.value = String(amounts.get(i + 1) ?? 0);
    describeSlider(slider, state.directions[i]);
  });
}

const sliderPainting = { busy: false, wanted: null };
async function sliderMoved() {
  sliderPainting.wanted = slidersEdits();
  if (sliderPainting.busy || !state.portrait) return;
  sliderPainting.busy = true;
  try {
    while (sliderPainting.wanted !== null) {
      const positions = sliderPainting.wanted;
      sliderPainting.wanted = null;
      // The link's canonical text (no zeros, direction order) comes from the parser in Rust.
      const { edits } = await parseEdits(positions);
      await paintPortrait(state.portrait.seed, edits);
      // The history keeps the portrait as opened and where the sliders left it, not every step
      // on the way.
      remember(state.lastSlid);
      state.lastSlid = shownEntry();
      // The address bar keeps the link to what is shown; replaceState fires no hashchange.
      history.replaceState(null, '', portraitLink(state.portrait.seed, edits));
    }
  } catch (error) {
    fail(String(error.message ?? error));
  } finally {
    sliderPainting.busy = false;
  }
}

function resetSliders() {
  setSliders('');
  sliderMoved();
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

/**
 * The edits the URL asks for (`&edit=2:1.5,7:-0.8`), as canonical text ('' for none). Edits this
 * painter cannot make (a malformed or hostile text, a direction it does not have) are left out
 * with a polite message: the link still shows its portrait.
 */
async function requestedEdits() {
  const text = urlParameter('edit');
  if (text === null || text === '') return '';
  const { edits, refused } = await parseEdits(text);
  const without = 'here is the portrait without its edits.';
  if (refused !== undefined) {
    showMessage(`${refused}; ${without}`);
    return '';
  }
  const count = state.directions.length;
  const beyond = edits.split(',').map((part) => Number(part.split(':')[0])).find((d) => d > count);
  if (beyond !== undefined) {
    showMessage(count === 0
      ? `This painter (${state.painter.id}) has no directions to move a portrait along; ${without}`
      : `This painter has directions 1 to ${count}, not ${beyond}; ${without}`);
    return '';
  }
  return edits;
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
    await showPortrait(seed, await requestedEdits());
  }
  if ($('grid').children.length === 0) await showMore();
  $('gallery').hidden = false;
  $('yours').hidden = false;
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
  state.blend = { a, b };
  $('blend-download').hidden = false;
  playBlend(rgba, steps, size);
}

// The blend moving, there and back, beside its strip; where the visitor asks for less motion
// (prefers-reduced-motion), the still strip alone.
let blendTimer = null;
function playBlend(rgba, steps, size) {
  clearInterval(blendTimer);
  const still = matchMedia('(prefers-reduced-motion: reduce)').matches;
  $('blend-movie').hidden = still;
  document.body.dataset.blendAnimated = String(!still);
  if (still) return;
  const order = [...Array(steps).keys(), ...[...Array(steps).keys()].slice(1, -1).reverse()];
  let frame = 0;
  const show = () => { draw($('blend-movie'), rgba, order[frame], size); frame = (frame + 1) % order.length; };
  show();
  blendTimer = setInterval(show, 150);
}

/** "Between two portraits" as an animated PNG (256 px, 16 steps each way), encoded in the worker. */
async function downloadBlend() {
  const { a, b } = state.blend;
  const png = await ask('blendAnimation', { a, b, steps: 16, scale: 4 });
  save(new File([png], `atelier-${state.painter.id}-blend-${a}-${b}.png`, { type: 'image/png' }));
}

/** Hands a file to the browser's downloads. */
function save(file) {
  const link = document.createElement('a');
  link.href = URL.createObjectURL(file);
  link.download = file.name;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
}

// History and favourites: the portraits this browser opened (the newest 50) and the ones its
// visitor starred, as links (seed, painter, edits) in localStorage. Nothing leaves the browser.
const HISTORY_KEY = 'atelier-history';
const FAVOURITES_KEY = 'atelier-favourites';
const HISTORY_LENGTH = 50;
const FAVOURITES_LENGTH = 500;

/** A kept list: entries `{ seed, painter, edits }` (the seed as text), or none where storage is refused. */
function keptList(key) {
  try {
    const list = JSON.parse(localStorage.getItem(key) ?? '[]');
    return Array.isArray(list) ? list.filter((e) => typeof e?.seed === 'string' && typeof e?.painter === 'string' && typeof e?.edits === 'string') : [];
  } catch { return []; }
}
function keepList(key, list) {
  try { localStorage.setItem(key, JSON.stringify(list)); } catch { /* a full or refused storage keeps nothing */ }
}
const samePortrait = (a, b) => a.seed === b.seed && a.painter === b.painter && a.edits === b.edits;
const shownEntry = () => ({ seed: String(state.portrait.seed), painter: state.painter.id, edits: state.portrait.edits });

/** Puts the portrait in the focus view first in the history; `replacing` an entry it was edited from. */
function remember(replacing = null) {
  const entry = shownEntry();
  const rest = keptList(HISTORY_KEY).filter((e) => !samePortrait(e, entry) && !(replacing && samePortrait(e, replacing)));
  keepList(HISTORY_KEY, [entry, ...rest].slice(0, HISTORY_LENGTH));
  showFavouriteState();
}

function showFavouriteState() {
  const kept = state.portrait && keptList(FAVOURITES_KEY).some((e) => samePortrait(e, shownEntry()));
  $('favourite').setAttribute('aria-pressed', String(Boolean(kept)));
  $('favourite').textContent = kept ? '★ Favourite' : '☆ Keep as favourite';
}

function toggleFavourite() {
  const entry = shownEntry();
  const favourites = keptList(FAVOURITES_KEY);
  const kept = favourites.some((e) => samePortrait(e, entry));
  keepList(FAVOURITES_KEY, kept ? favourites.filter((e) => !samePortrait(e, entry)) : [entry, ...favourites].slice(0, FAVOURITES_LENGTH));
  showFavouriteState();
  showMessage(kept ? 'Removed from your favourites.' : 'Kept in your favourites (in this browser only).');
  if ($('history').open) showKept().catch(() => {});
}

/** Fills the favourites and history lists: a link per portrait, a picture where this painter paints it. */
async function showKept() {
  const lists = [[FAVOURITES_KEY, $('favourites-list')], [HISTORY_KEY, $('history-list')]];
  $('favourites-empty').hidden = keptList(FAVOURITES_KEY).length > 0;
  for (const [key, list] of lists) {
    const items = keptList(key).map((entry) => {
      const item = document.createElement('li');
      const link = document.createElement('a');
      link.href = `#seed=${entry.seed}&painter=${entry.painter}${entry.edits ? `&edit=${entry.edits}` : ''}`;
      const canvas = newCanvas(state.painter.imageSize);
      const caption = document.createElement('span');
      caption.textContent = `${entry.seed}${entry.edits ? ' (moved)' : ''}${entry.painter === state.painter.id ? '' : ` · painter ${entry.painter}`}`;
      canvas.title = `Portrait ${entry.seed}${entry.edits ? `, moved ${entry.edits}` : ''}`;
      link.append(canvas, caption);
      item.append(link);
      return { item, canvas, entry };
    });
    list.replaceChildren(...items.map((i) => i.item));
    // Pictures only from this painter: another painter's portrait would be a different picture.
    for (const { canvas, entry } of items) {
      if (entry.painter !== state.painter.id) continue;
      const seed = await parseSeed(entry.seed);
      if (seed === undefined) continue;
      const rgba = entry.edits ? await ask('paintEdited', { seed, edits: entry.edits }).catch(() => null) : await ask('paint', { seeds: [seed] });
      if (rgba) draw(canvas, rgba, 0, state.painter.imageSize);
    }
  }
  document.body.dataset.keptShown = String(Date.now());
}

/** The painter's directions (`<id>-directions.json`), or none where it ships none or it cannot be used. */
async function loadDirections(entry) {
  if (!entry.directions) return [];
  try {
    const response = await fetch(`assets/${entry.directions}`);
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    return await ask('directions', { json: await response.text() });
  } catch (error) {
    console.warn(`no sliders: assets/${entry.directions} cannot be used (${error.message ?? error})`);
    return [];
  }
}

/**
 * The portrait in the focus view as a PNG file that carries its seed, painter and edits (text
 * chunks, written in Rust), `scale` times its 64 px (each pixel a `scale`×`scale` block).
 */
async function portraitFile(scale) {
  const source = $('portrait-canvas');
  const canvas = newCanvas(source.width * scale);
  const context = canvas.getContext('2d');
  context.imageSmoothingEnabled = false;
  context.drawImage(source, 0, 0, canvas.width, canvas.height);
  const blob = await new Promise((done) => canvas.toBlob(done, 'image/png'));
  const png = new Uint8Array(await blob.arrayBuffer());
  const { seed, edits } = state.portrait;
  const tagged = await ask('provenance', { png, seed, painter: state.painter.id, edits }, [png.buffer]);
  const size = scale === 1 ? '' : `-${canvas.width}px`;
  return new File([tagged], `atelier-${state.painter.id}-${seed}${size}.png`, { type: 'image/png' });
}

async function download(scale) {
  save(await portraitFile(scale));
}

/** Opens the portrait a PNG file saved from here carries (its link is inside). */
async function openFile(file) {
  if (!file) return;
  try {
    const link = await ask('linkOfPng', { png: new Uint8Array(await file.arrayBuffer()) });
    if (location.hash === `#${link}`) await route(); else location.hash = link;
  } catch (error) {
    showMessage(`${quoted(file.name)}: ${error.message ?? error}.`);
  }
}

/** The system's share sheet with the portrait's file and link, where the browser has one. */
async function share() {
  const { seed, edits } = state.portrait;
  const url = `${location.origin}${location.pathname}${portraitLink(seed, edits)}`;
  const file = await portraitFile(1);
  const data = { title: `atelier portrait ${seed}`, url };
  try {
    await navigator.share(navigator.canShare?.({ ...data, files: [file] }) ? { ...data, files: [file] } : data);
  } catch (error) {
    if (error.name !== 'AbortError') showMessage(`Sharing did not work (${error.message}); copy this link: ${url}`);
  }
}

async function copyLink() {
  const { seed, edits } = state.portrait;
  const url = `${location.origin}${location.pathname}${portraitLink(seed, edits)}`;
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

// The site's files are kept for a visit without a network: `sw.js` answers from its copies
// offline and keeps a copy of every file it fetches; the painter's thread copies the first visit's.
/**
 * Starts the service worker and keeps the files this visit used, for the next one offline. The
 * painter's thread copies them (Cache Storage work on this thread made tasks of 50–150 ms).
 */
async function keepForOffline() {
  if (!('serviceWorker' in navigator) || !self.caches || DEMO) return;
  // When the page is idle: keeping the site must not hold up the first portraits.
  await new Promise((idle) => (self.requestIdleCallback ?? setTimeout)(idle, { timeout: 2000 }));
  await navigator.serviceWorker.register('sw.js');
  const files = ['./', 'app.js', 'worker.js', 'style.css', 'manifest.webmanifest', 'assets/icon-192.png', MANIFEST,
    `assets/${state.entry.seeds}`, state.entry.directions && `assets/${state.entry.directions}`];
  await ask('keep', { urls: files.filter(Boolean).map((file) => new URL(file, location.href).href) });
  document.body.dataset.offlineReady = 'true';
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
    state.directions = await loadDirections(state.entry);
    buildSliders(state.directions);
    document.body.dataset.directions = String(state.directions.length);
    if (cache) forgetOldPainters(cache, state.manifest).catch(() => {});
    // A browser that refuses service workers or storage still has the gallery, online.
    keepForOffline().catch((error) => console.warn(`no offline copy: ${error.message ?? error}`));
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
  $('blend-download').addEventListener('click', guarded(downloadBlend));
  $('download').addEventListener('click', guarded(() => download(1)));
  $('download-large').addEventListener('click', guarded(() => download(4)));
  if (navigator.share) {
    $('share').hidden = false;
    $('share').addEventListener('click', guarded(share));
  }
  // A saved portrait opens again: picked with the button, or dropped anywhere on the page.
  $('open').addEventListener('click', () => $('open-png').click());
  $('open-png').addEventListener('change', guarded(async () => { await openFile($('open-png').files[0]); $('open-png').value = ''; }));
  document.addEventListener('dragover', (event) => { if (event.dataTransfer?.types.includes('Files')) event.preventDefault(); });
  document.addEventListener('drop', (event) => {
    if (!event.dataTransfer?.files.length) return;
    event.preventDefault();
    guarded(openFile)(event.dataTransfer.files[0]);
  });
  $('copy-link').addEventListener('click', copyLink);
  $('reset-sliders').addEventListener('click', resetSliders);
  $('favourite').addEventListener('click', toggleFavourite);
  $('history').addEventListener('toggle', guarded(async () => { if ($('history').open) await showKept(); }));
  $('forget').addEventListener('click', guarded(async () => { keepList(HISTORY_KEY, []); await showKept(); }));
  // Escape closes the focus view (back to the gallery).
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && !$('portrait').hidden) location.hash = '';
  });
  window.addEventListener('hashchange', guarded(route));
  await guarded(route)();
}

main();
