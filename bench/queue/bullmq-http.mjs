// The reference for `cronflow bench engine`'s in-flight figure: N jobs on
// BullMQ (local Redis), one worker with concurrency N, each job one HTTP GET
// (Node's fetch) to a server that answers after a delay. Prints one JSON
// line: the most requests in flight at once, the seconds until all jobs
// completed, and the process's resident memory at the peak.
//
//   node bullmq-http.mjs --port 6379 --url URL --inflight N
import { Queue, Worker } from 'bullmq';
import { performance } from 'node:perf_hooks';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const port = Number(opt('--port', '6379'));
const url = opt('--url', 'http://127.0.0.1:8080/slow?ms=100');
const n = Number(opt('--inflight', '5000'));
const connection = { host: '127.0.0.1', port, maxRetriesPerRequest: null };
const name = `bench-http-${process.pid}`;

const queue = new Queue(name, { connection });
await queue.obliterate({ force: true }).catch(() => {});

let inflight = 0, peak = 0, peakRss = 0, completed = 0, failed = 0;
let resolveDone;
const done = new Promise((r) => (resolveDone = r));
const worker = new Worker(
  name,
  async () => {
    inflight++;
    if (inflight > peak) {
      peak = inflight;
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
    }
    try {
      const res = await fetch(url);
      await res.text();
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
    } finally {
      inflight--;
    }
  },
  { connection, concurrency: n },
);
const finish = () => {
  if (completed + failed === n) resolveDone();
};
worker.on('completed', () => { completed++; finish(); });
worker.on('failed', () => { failed++; finish(); });
await worker.waitUntilReady();

const t0 = performance.now();
for (let sent = 0; sent < n; ) {
  const k = Math.min(1000, n - sent);
  await queue.addBulk(Array.from({ length: k }, (_, i) => ({ name: 'get', data: { i: sent + i } })));
  sent += k;
}
await done;
const seconds = (performance.now() - t0) / 1000;
console.log(JSON.stringify({
  bench: 'bullmq-http', inflight_target: n, inflight_peak: peak, seconds: Number(seconds.toFixed(3)),
  failed, rss_at_peak_mib: Number((peakRss / 1048576).toFixed(1)),
}));
await worker.close();
await queue.obliterate({ force: true }).catch(() => {});
await queue.close();
process.exit(0);
