// cron-parser-bench.mjs — the reference half of the cron benchmark: the
// same (expression, zone) mix as build/bench/bench_cron, run through
// cron-parser (the library the original system used), timed the same way.
//
//   build/bench/bench_cron --list | node bench/cron-parser-bench.mjs [--ms N]
//
// Input: "expr<TAB>zone" lines (bench_cron --list is the one source of the
// mix). Output: JSON lines in bench_cron's format with "impl":"cron-parser".
//
// Work per pair, as in bench_cron: chains of CHAIN_LENGTH calls to next()
// from 2024-01-01T00:00:00Z, repeated until --ms milliseconds of next()
// time have passed. Only next() is timed; the parse that starts each chain
// is not (it is measured on its own). "last" is the instant the first chain
// ends on, for checking that both sides walked the same instants.
//
// cron-parser comes from tests/diff (package.json + package-lock.json pin
// it; scripts/run-bench runs `npm ci` there when it is missing).

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(new URL('../tests/diff/package.json', import.meta.url));
const { CronExpressionParser } = require('cron-parser');

const CHAIN_LENGTH = 100;
const START_MS = Date.UTC(2024, 0, 1);

let minMs = 100;
for (let i = 2; i < process.argv.length; i++) {
  if (process.argv[i] === '--ms' && i + 1 < process.argv.length) minMs = Number(process.argv[++i]);
  else {
    console.error('usage: bench_cron --list | node cron-parser-bench.mjs [--ms N]');
    process.exit(2);
  }
}

const pairs = readFileSync(0, 'utf8')
  .split('\n')
  .filter((line) => line.trim() !== '')
  .map((line) => {
    const [expr, zone] = line.split('\t');
    return { expr, zone };
  });

// bench_cron's format: civil_format_iso at offset 0.
function iso(ms) {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, '+00:00');
}

// One chain: returns [nanoseconds spent in next(), last instant in ms].
function chain(expr, tz) {
  const it = CronExpressionParser.parse(expr, { currentDate: new Date(START_MS), tz });
  let last = -1;
  const start = process.hrtime.bigint();
  for (let i = 0; i < CHAIN_LENGTH; i++) last = it.next().getTime();
  const ns = Number(process.hrtime.bigint() - start);
  return [ns, last];
}

let sink = 0;
const exprs = [...new Set(pairs.map((p) => p.expr))];
// Let the JIT see every parse path before any is timed.
for (let k = 0; k < 200; k++)
  for (const expr of exprs) sink ^= CronExpressionParser.parse(expr, { tz: 'UTC' }).fields.second.values.length;
let parseTotal = 0;
for (const expr of exprs) {
  let n = 0;
  const start = process.hrtime.bigint();
  let elapsed = 0;
  do {
    for (let k = 0; k < 20; k++) {
      const it = CronExpressionParser.parse(expr, { currentDate: new Date(START_MS), tz: 'UTC' });
      sink ^= it.fields.second.values.length;
    }
    n += 20;
    elapsed = Number(process.hrtime.bigint() - start);
  } while (elapsed < (minMs * 1e6) / 10);
  const ns = elapsed / n;
  parseTotal += ns;
  console.log(JSON.stringify({ bench: 'cron_parse', impl: 'cron-parser', expr, ns_per_parse: +ns.toFixed(1), parses: n }));
}

// Let the JIT see every expression and zone before anything is timed.
for (const { expr, zone } of pairs) sink ^= chain(expr, zone)[1];

let nextTotal = 0;
let logTotal = 0;
for (const { expr, zone } of pairs) {
  const [, firstLast] = chain(expr, zone); // warm-up, and the check value
  let ns = 0;
  let chains = 0;
  do {
    const [took, last] = chain(expr, zone);
    ns += took;
    sink ^= last;
    chains++;
  } while (ns < minMs * 1e6);
  const perNext = ns / (chains * CHAIN_LENGTH);
  nextTotal += perNext;
  logTotal += Math.log(perNext);
  console.log(
    JSON.stringify({
      bench: 'cron_next',
      impl: 'cron-parser',
      expr,
      zone,
      ns_per_next: +perNext.toFixed(1),
      nexts: chains * CHAIN_LENGTH,
      last: iso(firstLast),
    }),
  );
}
console.log(
  JSON.stringify({
    bench: 'cron_next_mean',
    impl: 'cron-parser',
    pairs: pairs.length,
    ns_per_next: +(nextTotal / pairs.length).toFixed(1),
    geomean_ns_per_next: +Math.exp(logTotal / pairs.length).toFixed(1),
    ns_per_parse: +(parseTotal / exprs.length).toFixed(1),
    sink: sink & 1,
  }),
);
