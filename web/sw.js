// The gallery's service worker: a second visit works without a network. While online every
// request goes to the network as usual (so a new version of the site is seen at once), and a copy
// of each of the site's files is kept; offline, the kept copy answers. The painter's thread
// (`worker.js`, asked by `app.js`) puts the files of the first visit here itself, since this
// worker only starts serving after that visit has loaded. Painters' weights are not kept here:
// the page keeps them under their painter id (Cache Storage `atelier-painters`).

const SITE_CACHE = 'atelier-site';

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('fetch', (event) => {
  const { request } = event;
  const url = new URL(request.url);
  if (request.method !== 'GET' || url.origin !== self.location.origin || url.pathname.endsWith('.bpk')) return;
  event.respondWith((async () => {
    try {
      const response = await fetch(request);
      if (response.ok && response.type === 'basic') {
        const copy = response.clone();
        event.waitUntil(caches.open(SITE_CACHE).then((cache) => cache.put(keyOf(url), copy)).catch(() => {}));
      }
      return response;
    } catch (offline) {
      const kept = await caches.match(keyOf(url));
      if (kept) return kept;
      throw offline;
    }
  })());
});

/**
 * The kept copy's key: the file, without the query (`?backend=cpu` asks for the same page,
 * `worker.js?backend=auto` for the same script); `/` and `/index.html` are one page.
 */
function keyOf(url) {
  const path = url.pathname.endsWith('/index.html') ? url.pathname.slice(0, -'index.html'.length) : url.pathname;
  return new URL(path, url.origin).href;
}
