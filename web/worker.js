// The painter's own thread: it holds the WebAssembly module and the generator, so a batch painted
// on the CPU fallback never freezes the page. The page (`app.js`) starts it as
// `worker.js?backend=auto|webgpu|cpu`, calls it through `postMessage` with `{ call, args, id }`
// and gets back `{ id, result }` or `{ id, error }`; pixels come back as transferred buffers.

// Two builds of the same module: the whole one, and one without the WebGPU path (three quarters
// of the code) for browsers where WebGPU is missing or only emulated, which would paint on the
// CPU anyway.
const WHOLE = './atelier-web.js';
const CPU_ONLY = './cpu/atelier-web.js';

async function moduleFor(backend) {
  if (backend === 'cpu') return CPU_ONLY;
  if (backend === 'webgpu') return WHOLE;
  try {
    const adapter = await navigator.gpu?.requestAdapter();
    const emulated = adapter && (adapter.info?.isFallbackAdapter ?? adapter.isFallbackAdapter);
    return adapter && !emulated ? WHOLE : CPU_ONLY;
  } catch {
    return CPU_ONLY;
  }
}

// The site's files kept for visits without a network (`sw.js` serves them from here then).
const SITE_CACHE = 'atelier-site';

const backend = new URL(self.location.href).searchParams.get('backend') ?? 'auto';
let modulePath = null;
const ready = moduleFor(backend).then(async (path) => {
  modulePath = path;
  const wasm = await import(path);
  const binary = new URL(path.replace(/\.js$/, '_bg.wasm'), self.location.href).href;
  const response = await fetch(binary);
  // A copy of the module for the next visit, offline or not, without downloading it again.
  if (response.ok && self.caches) caches.open(SITE_CACHE).then((cache) => cache.put(binary, response.clone())).catch(() => {});
  await wasm.default({ module_or_path: response });
  return wasm;
});
let painter = null;

const started = () => {
  if (!painter) throw new Error('the painter has not started');
  return painter;
};
const pixels = (rgba) => ({ result: rgba, transfer: [rgba.buffer] });

const calls = {
  // The URL's seed, painter id and edits, through the strict parsers in Rust (undefined when
  // invalid; for edits, the canonical text or the reason they were refused).
  parse: ({ seed = null, painterId = null, edits = null }, { parseSeed, parsePainterId, parseEdits }) => {
    const result = {
      seed: seed === null ? null : parseSeed(seed),
      painterId: painterId === null ? null : parsePainterId(painterId),
    };
    if (edits !== null) {
      try { result.edits = parseEdits(edits); } catch (error) { result.editsRefused = String(error?.message ?? error); }
    }
    return { result };
  },
  start: async ({ weights }, { Painter }) => {
    // Started again (a kept copy of the weights that was not what its id names): free the first.
    painter?.free();
    painter = null;
    painter = await Painter.create(weights, backend);
    const { id, deviceName, fellBack, imageSize } = painter;
    return { result: { id, deviceName, fellBack, imageSize } };
  },
  // Copies of the site's files (`urls`, and the module this thread loaded) for a visit without a
  // network; `sw.js` answers from them then.
  keep: async ({ urls }) => {
    const cache = await caches.open(SITE_CACHE);
    for (const url of [...urls, new URL(modulePath, self.location.href).href]) {
      if (!(await cache.match(url))) await cache.add(url);
    }
    return { result: true };
  },
  // The painter's directions file (checked against its id in Rust): the sliders' labels.
  directions: ({ json }) => ({ result: started().setDirections(json) }),
  paint: async ({ seeds }) => pixels(await started().paint(BigUint64Array.from(seeds))),
  // A portrait's PNG with its seed, painter and edits inside; and the link a dropped PNG carries.
  provenance: ({ png, seed, painter, edits }, { withProvenance }) => pixels(withProvenance(png, BigInt(seed), painter, edits)),
  linkOfPng: ({ png }, { linkOfPng }) => ({ result: linkOfPng(png) }),
  paintEdited: async ({ seed, edits }) => pixels(await started().paintEdited(seed, edits)),
  interpolate: async ({ a, b, steps }) => pixels(await started().interpolate(a, b, steps)),
  blendAnimation: async ({ a, b, steps, scale }) => pixels(await started().blendAnimation(a, b, steps, scale)),
};

self.onmessage = async ({ data: { id, call, args } }) => {
  try {
    const { result, transfer = [] } = await calls[call](args, await ready);
    self.postMessage({ id, result }, transfer);
  } catch (error) {
    self.postMessage({ id, error: String(error?.message ?? error) });
  }
};
