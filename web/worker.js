// The painter's own thread: it holds the WebAssembly module and the generator, so a batch painted
// on the CPU fallback (a quarter of a second or more of solid work) never freezes the page.
// The page (`app.js`) calls it through `postMessage` with `{ call, args, id }` and gets back
// `{ id, result }` or `{ id, error }`; pixels come back as transferred buffers, not copies.
import init, { Painter, parseSeed, parsePainterId } from './atelier-web.js';

const ready = init({ module_or_path: './atelier-web_bg.wasm' });
let painter = null;

const started = () => {
  if (!painter) throw new Error('the painter has not started');
  return painter;
};
const pixels = (rgba) => ({ result: rgba, transfer: [rgba.buffer] });

const calls = {
  // The URL's seed and painter id, through the strict parsers in Rust (undefined when invalid).
  parse: ({ seed, painterId }) => ({
    result: {
      seed: seed === null ? null : parseSeed(seed),
      painterId: painterId === null ? null : parsePainterId(painterId),
    },
  }),
  start: async ({ weights, backend }) => {
    painter = await Painter.create(weights, backend);
    const { id, deviceName, fellBack, imageSize } = painter;
    return { result: { id, deviceName, fellBack, imageSize } };
  },
  paint: async ({ seeds }) => pixels(await started().paint(BigUint64Array.from(seeds))),
  interpolate: async ({ a, b, steps }) => pixels(await started().interpolate(a, b, steps)),
};

self.onmessage = async ({ data: { id, call, args } }) => {
  try {
    await ready;
    const { result, transfer = [] } = await calls[call](args);
    self.postMessage({ id, result }, transfer);
  } catch (error) {
    self.postMessage({ id, error: String(error?.message ?? error) });
  }
};
