#!/usr/bin/env node
// http_peer.mjs — the HTTP server the engine tests and the benchmark talk
// to, on 127.0.0.1 only. Node's own http module; no packages.
//
//   node tests/tools/http_peer.mjs [PORT]   (0 or none: the kernel picks;
//                                            the port is the first stdout line)
//
// Endpoints:
//   GET  /events?n=30           JSON array of n events {id, type, actor, repo}
//   GET  /hang                  never answers (the socket stays open up to
//                               10 minutes, then it is destroyed)
//   GET  /slow?ms=100           {"ok":true} after ms milliseconds
//   ANY  /flaky?key=K&fail=N    503 the first N times for key K, then 200
//                               {"attempt": count} (count includes failures)
//   GET  /status/CODE           that status, small JSON body {"status": CODE}
//   POST /notify                stores the request, answers {"received": true}
//   ANY  /echo                  answers what it got: method, url, query,
//                               headers, body (text) and json (parsed or null)
//   GET  /requests?path=/notify the stored requests [{method, path, url,
//                               headers, body, json}]; DELETE /requests clears
//                               them, the /flaky counts and the stats
//   GET  /stats                 {count: {path: n}, inflight: {path: n},
//                               max_inflight: {path: most at once}}
//   GET  /big?bytes=N[&chunked=1] N bytes of "x" (with Content-Length unless
//                               chunked=1)
//   GET  /redirect[?to=URL]     302 to /events?n=2 (or to URL)
//   GET  /text                  text/plain body "hello from the peer\n"
//   GET  /headers               a response with mixed-case and repeated headers
//   POST /slack/webhook         Slack's incoming webhook: "ok" for a JSON body
//                               with text or blocks, 400 "invalid_payload" else
//   POST /slack/api/chat.postMessage  Slack's Web API: needs "Authorization:
//                               Bearer xoxb-test-token" (else ok:false
//                               invalid_auth); by channel: "#missing" ok:false
//                               channel_not_found, "#ratelimited" 429 with
//                               Retry-After: 1 the first time, then ok:true only
//                               if a second has passed (else ok:false
//                               too_early), "#hang" never answers
//
// Every request (but /requests and /stats) is stored, the last 20,000 of
// them, and counted per path, so tests can see what the engine sent.
// It serves thousands of concurrent connections: no connection cap, keep-alive.
import http from "node:http";

const started = Date.now();
// The last MAX_STORED requests in a ring (a benchmark sends millions; an
// array shifted at the front would cost O(n) per request), and exact
// counts per path.
const MAX_STORED = 20000;
const ring = new Array(MAX_STORED);
let stored = 0; // requests stored since the last clear
const counts = new Map(); // path -> requests since the last clear
function remember(record) {
  ring[stored % MAX_STORED] = record;
  stored++;
  counts.set(record.path, (counts.get(record.path) ?? 0) + 1);
}
function remembered() {
  if (stored <= MAX_STORED) return ring.slice(0, stored);
  const at = stored % MAX_STORED;
  return ring.slice(at).concat(ring.slice(0, at));
}
const flaky = new Map();
const slackLimited = new Map(); // channel -> when its 429 was sent
const inflight = new Map(); // path -> requests being answered now
const inflightMax = new Map(); // path -> the most at once since the last clear
const TYPES = ["PushEvent", "IssuesEvent", "PullRequestEvent", "WatchEvent", "ForkEvent"];
const HANG_MS = 10 * 60 * 1000;
const MAX_BODY = 16 * 1024 * 1024;

function json(res, status, value, extra = {}) {
  const body = JSON.stringify(value);
  res.writeHead(status, {
    "Content-Type": "application/json",
    "Content-Length": Buffer.byteLength(body),
    ...extra,
  });
  res.end(body);
}

function intParam(q, name, dflt, max) {
  const v = q.get(name);
  if (v === null || v === "") return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) return dflt;
  return Math.min(n, max);
}

function handle(req, res, body) {
  const url = new URL(req.url, "http://127.0.0.1");
  const q = url.searchParams;
  const text = body.toString("utf8");
  let parsed = null;
  try {
    parsed = text.length ? JSON.parse(text) : null;
  } catch {
    parsed = null;
  }
  const record = {
    method: req.method,
    path: url.pathname,
    url: req.url,
    query: Object.fromEntries(q),
    headers: req.headers,
    body: text,
    json: parsed,
    at: Date.now() - started,
  };
  if (url.pathname !== "/requests" && url.pathname !== "/stats") remember(record);
  const p = url.pathname;

  if (p !== "/requests" && p !== "/stats") {
    const now = (inflight.get(p) ?? 0) + 1;
    inflight.set(p, now);
    if (now > (inflightMax.get(p) ?? 0)) inflightMax.set(p, now);
    let done = false;
    const leave = () => {
      if (!done) inflight.set(p, inflight.get(p) - 1);
      done = true;
    };
    res.on("finish", leave);
    res.on("close", leave);
  }

  if (p === "/events" && req.method === "GET") {
    const n = intParam(q, "n", 30, 100000);
    const events = [];
    for (let i = 0; i < n; i++)
      events.push({
        id: i,
        type: TYPES[i % TYPES.length],
        actor: { id: 1000 + i, login: `user${i}` },
        repo: { name: `org/repo${i % 3}` },
      });
    return json(res, 200, events);
  }
  if (p === "/hang") {
    // Keep the socket open without answering; give up after 10 minutes.
    const t = setTimeout(() => req.socket.destroy(), HANG_MS);
    req.socket.on("close", () => clearTimeout(t));
    return;
  }
  if (p === "/slow") {
    const ms = intParam(q, "ms", 100, HANG_MS);
    const t = setTimeout(() => json(res, 200, { ok: true }), ms);
    req.socket.on("close", () => clearTimeout(t));
    return;
  }
  if (p === "/flaky") {
    const key = q.get("key") ?? "";
    const fail = intParam(q, "fail", 1, 1000000);
    const count = (flaky.get(key) ?? 0) + 1;
    flaky.set(key, count);
    if (count <= fail) return json(res, 503, { error: "unavailable", attempt: count });
    return json(res, 200, { attempt: count });
  }
  const status = /^\/status\/(\d{3})$/.exec(p);
  if (status) {
    const code = Number(status[1]);
    if (code < 200 || code > 599) return json(res, 400, { error: "bad status" });
    return json(res, code, { status: code });
  }
  if (p === "/notify" && req.method === "POST") return json(res, 200, { received: true });
  if (p === "/echo") {
    return json(res, 200, {
      method: req.method,
      url: req.url,
      query: record.query,
      headers: req.headers,
      body: text,
      json: parsed,
    });
  }
  if (p === "/requests") {
    if (req.method === "DELETE") {
      ring.fill(undefined);
      stored = 0;
      counts.clear();
      flaky.clear();
      slackLimited.clear();
      inflightMax.clear();
      return json(res, 200, { cleared: true });
    }
    const want = q.get("path");
    const all = remembered();
    return json(res, 200, want === null ? all : all.filter((r) => r.path === want));
  }
  if (p === "/stats") {
    return json(res, 200, {
      count: Object.fromEntries(counts),
      inflight: Object.fromEntries(inflight),
      max_inflight: Object.fromEntries(inflightMax),
    });
  }
  if (p === "/big") {
    const n = intParam(q, "bytes", 1024, 512 * 1024 * 1024);
    const chunk = Buffer.alloc(Math.min(n, 64 * 1024), "x");
    const headers = { "Content-Type": "application/octet-stream" };
    if (q.get("chunked") !== "1") headers["Content-Length"] = n;
    res.writeHead(200, headers);
    let left = n;
    const write = () => {
      while (left > 0) {
        const part = left >= chunk.length ? chunk : chunk.subarray(0, left);
        left -= part.length;
        if (!res.write(part)) return res.once("drain", write);
      }
      res.end();
    };
    res.on("close", () => (left = 0));
    return write();
  }
  if (p === "/redirect") {
    const to = q.get("to") ?? "/events?n=2";
    res.writeHead(302, { Location: to, "Content-Length": 0 });
    return res.end();
  }
  if (p === "/text") {
    const b = "hello from the peer\n";
    res.writeHead(200, { "Content-Type": "text/plain; charset=utf-8", "Content-Length": b.length });
    return res.end(b);
  }
  if (p === "/headers") {
    res.setHeader("X-Mixed-Case", "Yes");
    res.setHeader("X-Repeated", ["one", "two"]);
    return json(res, 200, { ok: true });
  }
  if (p === "/slack/webhook" && req.method === "POST") {
    const okBody = parsed && (typeof parsed.text === "string" || Array.isArray(parsed.blocks));
    const b = okBody ? "ok" : "invalid_payload";
    res.writeHead(okBody ? 200 : 400, { "Content-Type": "text/plain", "Content-Length": b.length });
    return res.end(b);
  }
  if (p === "/slack/api/chat.postMessage" && req.method === "POST") {
    if (req.headers.authorization !== "Bearer xoxb-test-token")
      return json(res, 200, { ok: false, error: "invalid_auth" });
    const channel = parsed?.channel;
    if (channel === "#missing") return json(res, 200, { ok: false, error: "channel_not_found" });
    if (channel === "#hang") {
      const t = setTimeout(() => req.socket.destroy(), HANG_MS);
      req.socket.on("close", () => clearTimeout(t));
      return;
    }
    if (channel === "#ratelimited") {
      const first = slackLimited.get(channel);
      if (first === undefined) {
        slackLimited.set(channel, Date.now());
        return json(res, 429, { ok: false, error: "ratelimited" }, { "Retry-After": "1" });
      }
      if (Date.now() - first < 1000) return json(res, 200, { ok: false, error: "too_early" });
    }
    return json(res, 200, { ok: true, channel: "C0TEST", ts: "1700000000.000100" });
  }
  return json(res, 404, { error: "no such endpoint", path: p });
}

const server = http.createServer({ keepAlive: true }, (req, res) => {
  const chunks = [];
  let size = 0;
  req.on("data", (c) => {
    size += c.length;
    if (size <= MAX_BODY) chunks.push(c);
  });
  req.on("end", () => {
    if (size > MAX_BODY) return json(res, 413, { error: "body too large" });
    try {
      handle(req, res, Buffer.concat(chunks));
    } catch (e) {
      if (!res.headersSent) json(res, 500, { error: String(e) });
      else res.destroy();
    }
  });
  req.on("error", () => {});
});
server.maxConnections = Infinity; // no cap: the benchmark opens thousands
server.keepAliveTimeout = 65000;
server.headersTimeout = 70000;
server.requestTimeout = 0; // /hang must be allowed to hang
server.timeout = 0;
server.maxHeadersCount = 0;
server.on("clientError", (err, socket) => {
  if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\n\r\n");
});

const port = Number(process.argv[2] ?? 0);
server.listen({ host: "127.0.0.1", port, backlog: 65535 }, () => {
  process.stdout.write(`${server.address().port}\n`);
});
for (const sig of ["SIGTERM", "SIGINT"])
  process.on(sig, () => {
    server.closeAllConnections?.();
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 500).unref();
  });
