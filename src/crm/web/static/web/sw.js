/* Service worker of the CRM: the app shell is cached at install; record pages are fetched from
 * the network first and the last ones viewed are kept, so they can be read offline (marked as
 * offline, read-only). Nothing but GET requests of this origin is touched. */
"use strict";

var SHELL_CACHE = "crm-shell-v1";
var RECORDS_CACHE = "crm-records-v1";
var MAX_RECORDS = 30;
var SHELL_ASSETS = __SHELL_ASSETS__;
var OFFLINE_URL = SHELL_ASSETS[SHELL_ASSETS.length - 1];
var RECORD_PATH = /^\/(accounts|contacts|leads|opportunities|orders|products|tasks|activities)\/\d+\/$/;

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(SHELL_CACHE).then(function (cache) {
    return cache.addAll(SHELL_ASSETS);
  }).then(function () { return self.skipWaiting(); }));
});

self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (keys) {
    return Promise.all(keys.filter(function (key) {
      return key !== SHELL_CACHE && key !== RECORDS_CACHE;
    }).map(function (key) { return caches.delete(key); }));
  }).then(function () { return self.clients.claim(); }));
});

function titleOf(html) {
  var match = /<title>([^<]*)<\/title>/.exec(html);
  return match ? match[1].trim() : "";
}

function copyHeaders(response, extra) {
  var headers = new Headers();
  response.headers.forEach(function (value, key) { headers.set(key, value); });
  Object.keys(extra).forEach(function (key) { headers.set(key, extra[key]); });
  return headers;
}

function remember(request, response) {
  return response.text().then(function (html) {
    var stored = new Response(html, {
      status: 200,
      headers: copyHeaders(response, { "X-Record-Title": encodeURIComponent(titleOf(html)) })
    });
    return caches.open(RECORDS_CACHE).then(function (cache) {
      return cache.delete(request, { ignoreSearch: true }).then(function () {
        return cache.put(request.url.split("?")[0], stored);
      }).then(function () { return cache.keys(); }).then(function (keys) {
        var extra = keys.length - MAX_RECORDS;
        return Promise.all(keys.slice(0, Math.max(0, extra)).map(function (k) { return cache.delete(k); }));
      });
    });
  });
}

function markedOffline(response) {
  return response.text().then(function (html) {
    return new Response(html.replace("<body ", '<body data-served-offline="1" '), {
      status: 200,
      headers: copyHeaders(response, {})
    });
  });
}

function offlinePage() {
  return caches.match(OFFLINE_URL).then(function (page) {
    return page || new Response("Offline", { status: 503, headers: { "Content-Type": "text/plain" } });
  });
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") { return; }
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) { return; }
  if (request.mode === "navigate") {
    if (RECORD_PATH.test(url.pathname)) {
      event.respondWith(fetch(request).then(function (response) {
        if (response.ok && !response.redirected && response.type === "basic") {
          event.waitUntil(remember(request, response.clone()));
        }
        return response;
      }).catch(function () {
        return caches.open(RECORDS_CACHE).then(function (cache) {
          return cache.match(url.origin + url.pathname);
        }).then(function (hit) { return hit ? markedOffline(hit) : offlinePage(); });
      }));
    } else {
      event.respondWith(fetch(request).catch(offlinePage));
    }
    return;
  }
  if (url.pathname.indexOf("/static/") === 0) {
    event.respondWith(caches.match(request).then(function (hit) {
      return hit || fetch(request);
    }));
  }
});
