// The reference for `cronflow bench queue`: the same shape of work through
// BullMQ on a local Redis. Enqueues N no-op jobs with addBulk while a worker
// with concurrency W processes them, until all have completed; then the
// start latency of single jobs into an idle worker. Prints one JSON line
// with the same keys as cronflow's.
//
//   node bullmq-bench.mjs --port 6379 --executions N --workers W [--remove-on-complete]
import { Queue, Worker, QueueEvents } from 'bullmq';
import { performance } from 'node:perf_hooks';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const port = Number(opt('--port', '6379'));
const executions = Number(opt('--executions', '10000'));
const workers = Number(opt('--workers', '50'));
const idleSamples = Number(opt('--idle-samples', '200'));
const removeOnComplete = args.includes('--remove-on-complete');
const connection = { host: '127.0.0.1', port, maxRetriesPerRequest: null };
const name = `bench-${process.pid}`;

const queue = new Queue(name, { connection, defaultJobOptions: { removeOnComplete, removeOnFail: false } });
await queue.obliterate({ force: true }).catch(() => {});

const startedAt = new Map();
let completed = 0;
let resolveDone;
let done = new Promise((r) => (resolveDone = r));
let target = executions;
const worker = new Worker(
  name,
  async (job) => {
    startedAt.set(job.id, performance.now());
  },
  { connection, concurrency: workers },
);
worker.on('completed', () => {
  completed++;
  if (completed === target) resolveDone();
});
await worker.waitUntilReady();

// Burst: throughput.
const enqueuedAt = new Map();
const t0 = performance.now();
for (let sent = 0; sent < executions; ) {
  const n = Math.min(1000, executions - sent);
  const batch = Array.from({ length: n }, (_, i) => ({ name: 'noop', data: { i: sent + i } }));
  const asked = performance.now();
  const jobs = await queue.addBulk(batch);
  for (const j of jobs) enqueuedAt.set(j.id, asked);
  sent += n;
}
const tEnqueued = performance.now();
await done;
const tDone = performance.now();
const loaded = [];
for (const [id, t] of enqueuedAt) if (startedAt.has(id)) loaded.push(startedAt.get(id) - t);

// Idle: one job at a time.
const idle = [];
for (let k = 0; k < idleSamples; k++) {
  await new Promise((r) => setTimeout(r, 2));
  target = completed + 1;
  done = new Promise((r) => (resolveDone = r));
  const asked = performance.now();
  const job = await queue.add('noop', { k });
  await done;
  if (startedAt.has(job.id)) idle.push(startedAt.get(job.id) - asked);
}

const pct = (xs, p) => {
  if (!xs.length) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.round(p * (s.length - 1))];
};
console.log(
  JSON.stringify({
    executions,
    workers,
    enqueue_per_s: Math.round(executions / ((tEnqueued - t0) / 1000)),
    process_per_s: Math.round(executions / ((tDone - t0) / 1000)),
    start_latency_ms_p50: +pct(idle, 0.5).toFixed(3),
    start_latency_ms_p99: +pct(idle, 0.99).toFixed(3),
    loaded_start_latency_ms_p50: +pct(loaded, 0.5).toFixed(3),
    loaded_start_latency_ms_p99: +pct(loaded, 0.99).toFixed(3),
    remove_on_complete: removeOnComplete,
    durable: false,
  }),
);
await worker.close();
await queue.obliterate({ force: true }).catch(() => {});
await queue.close();
