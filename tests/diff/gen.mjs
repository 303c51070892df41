// gen.mjs — the case generator of the differential test against cron-parser.
//
//   node gen.mjs OUTDIR
//
// From a fixed seed (env DIFF_SEED, default 1) it makes DIFF_CASES random
// cases (default 4000): an expression within the syntax cron-parser and
// cronflow share, a zone, a start instant and a direction. It asks
// cron-parser (the library the original system used, pinned in
// package-lock.json) for the next (or previous) few fire instants and writes
//   OUTDIR/cases.tsv    expr, zone, start ms, count, next|prev: the input of
//                       build/asan/tools/cron_batch
//   OUTDIR/cases.jsonl  the same cases with cron-parser's answers
// The same seed always gives the same cases, on any machine with the same
// Node.js ICU time zone data.
//
// Left out on purpose: `H` (each side hashes differently), and what only
// cronflow accepts (docs/cron.md lists it): `W`, `L-n`, `n#L`, `#` in a
// list, `@midnight`, nicknames in capitals.

import { writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { CronExpressionParser } from 'cron-parser';

// ------------------------------------------------------------ random numbers
// A 32-bit counter hashed by a murmur-style finalizer: small, fast and the
// same on every machine.
export function makeRandom(seed) {
  let state = seed >>> 0;
  const next32 = () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
  const r = {
    float: () => (next32() * 2 ** 21 + (next32() >>> 11)) / 2 ** 53,
    int: (lo, hi) => lo + Math.floor(r.float() * (hi - lo + 1)),
    chance: (p) => r.float() < p,
    pick: (xs) => xs[Math.floor(r.float() * xs.length)],
    // Picks from [[weight, value-or-function], ...].
    weighted: (table) => {
      const total = table.reduce((s, [w]) => s + w, 0);
      let x = r.float() * total;
      for (const [w, v] of table) {
        x -= w;
        if (x < 0) return typeof v === 'function' ? v() : v;
      }
      const v = table[table.length - 1][1];
      return typeof v === 'function' ? v() : v;
    },
  };
  return r;
}

// ------------------------------------------------------------------- zones
// The zones the issue names, plus zones with odd transitions: at midnight
// (Havana, Santiago, Asuncion, Cairo), 30-minute and 2-hour jumps (Lord
// Howe, Troll), negative DST (Dublin, Casablanca), skipped days (Apia,
// Kiritimati), 30-minute offset changes (Pyongyang, Caracas), and zones
// without DST.
export const ZONES = [
  'America/New_York', 'Europe/London', 'Australia/Lord_Howe', 'Asia/Kolkata',
  'Australia/Sydney', 'America/Santiago', 'Pacific/Chatham', 'Asia/Tehran',
  'Europe/Dublin', 'America/St_Johns', 'UTC', 'Pacific/Apia',
  'Africa/Casablanca', 'America/Havana', 'America/Sao_Paulo', 'Europe/Moscow',
  'Antarctica/Troll', 'Australia/Adelaide', 'America/Los_Angeles',
  'Europe/Berlin', 'America/Asuncion', 'Pacific/Kiritimati', 'Asia/Amman',
  'America/Nuuk', 'Africa/Cairo', 'Asia/Jerusalem', 'America/Scoresbysund',
  'Asia/Gaza', 'Asia/Pyongyang', 'America/Caracas', 'Australia/Brisbane',
  'Europe/Lisbon',
];

const YEAR_FROM = 1990, YEAR_TO = 2060;

// The zone's UTC offset (seconds) at an instant, from Node's ICU.
const formats = new Map();
export function intlOffset(zone, ms) {
  let f = formats.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: zone, timeZoneName: 'longOffset' });
    formats.set(zone, f);
  }
  const name = f.formatToParts(ms).find((p) => p.type === 'timeZoneName').value;
  const m = /^GMT(?:([+-])(\d\d):(\d\d)(?::(\d\d))?)?$/.exec(name);
  if (!m) throw new Error(`unexpected offset name ${name} for ${zone}`);
  if (!m[1]) return 0;
  const v = +m[2] * 3600 + +m[3] * 60 + +(m[4] ?? 0);
  return m[1] === '-' ? -v : v;
}

// The instants (ms) at which the zone's offset changes in [from, to), found
// by stepping two days at a time and bisecting to the second.
export function intlTransitions(zone, fromMs, toMs) {
  const step = 2 * 86400000;
  const out = [];
  let t = fromMs, off = intlOffset(zone, t);
  while (t < toMs) {
    const u = t + step, o = intlOffset(zone, u);
    if (o !== off) {
      let lo = t, hi = u; // offset(lo) == off, offset(hi) != off
      while (hi - lo > 1000) {
        const mid = lo + Math.floor((hi - lo) / 2000) * 1000;
        if (intlOffset(zone, mid) === off) lo = mid;
        else hi = mid;
      }
      out.push({ at: hi, before: off, after: intlOffset(zone, hi) });
    }
    t = u;
    off = o;
  }
  return out;
}

// ------------------------------------------------------------- expressions
const MONTH_NAMES = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const DAY_NAMES = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];
const NICKNAMES = ['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@hourly', '@minutely', '@secondly', '@weekdays', '@weekends'];

function caseOf(r, s) {
  return r.chance(0.2) ? s.toLowerCase() : s;
}

// The values a plain list item stands for (numbers, names, `*`, ranges and
// steps, the way both sides read them), or null for `L`, `nL` and `n#k`.
// Day-of-week values are taken modulo 7, so `0` and `7` are the same day.
const FIELD_RANGE = { second: [0, 59], minute: [0, 59], hour: [0, 23], dom: [1, 31], month: [1, 12], dow: [0, 7] };
function valueOf(kind, text) {
  if (/^\d+$/.test(text)) return +text;
  const names = kind === 'month' ? MONTH_NAMES : kind === 'dow' ? DAY_NAMES : [];
  const i = names.indexOf(text.toUpperCase());
  if (i < 0) return NaN;
  return kind === 'month' ? i + 1 : i;
}
export function itemValues(kind, item) {
  const [lo, hi] = FIELD_RANGE[kind];
  const m = /^(\*|\?|[0-9A-Za-z]+)(?:-([0-9A-Za-z]+))?(?:\/(\d+))?$/.exec(item);
  const special = item.includes('#') || (kind === 'dom' && /^L$/i.test(item)) || (kind === 'dow' && /^([0-7]|[A-Za-z]{3})L$/i.test(item));
  if (!m || special) return null;
  let a, b;
  if (m[1] === '*' || m[1] === '?') {
    a = lo;
    b = hi;
  } else {
    a = valueOf(kind, m[1]);
    b = m[2] !== undefined ? valueOf(kind, m[2]) : m[3] !== undefined ? hi : a;
  }
  const step = m[3] !== undefined ? +m[3] : 1;
  if (!(a <= b) || !(step >= 1)) return null;
  const out = new Set();
  for (let v = a; v <= b; v += step) out.add(kind === 'dow' ? v % 7 : v);
  return out;
}

// True when two items of the field's list share a value.
export function listOverlaps(kind, field) {
  const seen = new Set();
  for (const item of field.split(',')) {
    const vs = itemValues(kind, item);
    if (!vs) continue;
    for (const v of vs) {
      if (seen.has(v)) return true;
      seen.add(v);
    }
  }
  return false;
}

// The field with overlapping items written as the sorted union of their
// values (the special items kept as they are).
export function listUnion(kind, field) {
  const values = new Set(), special = [];
  for (const item of field.split(',')) {
    const vs = itemValues(kind, item);
    if (vs) for (const v of vs) values.add(v);
    else special.push(item);
  }
  return [...[...values].sort((a, b) => a - b).map(String), ...special].join(',');
}

// One list item of a plain numeric field: a value, a range or a step.
// `pickValue` draws values with the field's bias.
function numericItem(r, lo, hi, pickValue, show = String) {
  return r.weighted([
    [5, () => show(pickValue())],
    [2, () => {
      const a = pickValue(), b = pickValue();
      return `${show(Math.min(a, b))}-${show(Math.max(a, b))}`;
    }],
    [2, () => `*/${r.weighted([[4, () => r.int(1, Math.min(12, hi - lo + 1))], [1, () => r.int(1, hi - lo + 1)]])}`],
    [1, () => {
      const a = pickValue(), b = pickValue();
      return `${Math.min(a, b)}-${Math.max(a, b)}/${r.int(1, Math.max(1, Math.floor((hi - lo) / 2)))}`;
    }],
    [1, () => `${pickValue()}/${r.int(1, Math.max(1, Math.floor((hi - lo) / 2)))}`],
  ]);
}

// A list of one to `maxItems` items. cron-parser rejects a list whose items
// share a value (cronflow takes the union), so items that overlap the ones
// before are drawn again, except in a few lists kept on purpose to check
// that documented difference.
function list(r, kind, item, maxItems = 3) {
  const n = r.weighted([[6, 1], [3, 2], [1, maxItems]]);
  const keepOverlap = r.chance(0.03);
  const items = [];
  for (let i = 0; i < n; i++) {
    for (let attempt = 0; attempt < 6; attempt++) {
      const candidate = item();
      if (keepOverlap || !listOverlaps(kind, [...items, candidate].join(','))) {
        items.push(candidate);
        break;
      }
    }
  }
  return items.length ? items.join(',') : item();
}

// Seconds and minutes: mostly the values DST transitions happen at.
function secondField(r) {
  const v = () => r.weighted([[3, 0], [1, 30], [1, 59], [2, () => r.int(0, 59)]]);
  return r.weighted([[6, '0'], [2, '*'], [0.2, '?'], [3, () => list(r, 'second', () => numericItem(r, 0, 59, v))]]);
}

function minuteField(r) {
  const v = () => r.weighted([[3, 0], [1, 1], [2, 30], [1, 15], [1, 45], [1, 59], [3, () => r.int(0, 59)]]);
  return r.weighted([[4, '0'], [2, '*'], [0.2, '?'], [1, '30'], [6, () => list(r, 'minute', () => numericItem(r, 0, 59, v))]]);
}

// Hours: weighted towards the hours that transitions skip or repeat, and
// towards fields that cover all 24 hours (they fire twice in a fold).
function hourField(r) {
  const v = () => r.weighted([[3, 0], [3, 1], [4, 2], [3, 3], [1, 4], [1, 22], [2, 23], [3, () => r.int(0, 23)]]);
  return r.weighted([
    [5, '*'],
    [1, () => r.pick(['0-23', '*/1', '0-11,12-23', '0/1', '0-23/1', '?'])],
    [5, () => String(r.int(0, 4))],
    [10, () => list(r, 'hour', () => numericItem(r, 0, 23, v))],
  ]);
}

function dayOfMonthField(r) {
  const v = () => r.weighted([[2, 1], [1, 15], [1, 28], [1, 29], [1, 30], [1, 31], [4, () => r.int(1, 31)]]);
  return r.weighted([
    [14, '*'],
    [2, '?'],
    [1, 'L'],
    [1, () => `${list(r, 'dom', () => String(v()), 2)},L`],
    [1, () => `L,${v()}`],
    [6, () => list(r, 'dom', () => numericItem(r, 1, 31, v))],
  ]);
}

function monthField(r) {
  const v = () => r.weighted([[3, 3], [2, 4], [1, 9], [3, 10], [2, 11], [1, 12], [1, 1], [2, () => r.int(1, 12)]]);
  const show = (m) => (r.chance(0.3) ? caseOf(r, MONTH_NAMES[m - 1]) : String(m));
  return r.weighted([
    [12, '*'],
    [0.3, '?'],
    [8, () => list(r, 'month', () => numericItem(r, 1, 12, v, show))],
  ]);
}

function dayOfWeekField(r) {
  const v = () => r.int(0, 7);
  const show = (d) => (r.chance(0.3) ? caseOf(r, DAY_NAMES[d % 7]) : String(d));
  const lastOf = () => {
    const d = r.int(0, 7);
    return r.chance(0.3) ? `${caseOf(r, DAY_NAMES[d % 7])}L` : `${d}L`;
  };
  return r.weighted([
    [14, '*'],
    [2, '?'],
    [2, () => r.pick(['1-5', 'MON-FRI', 'mon-fri', '0,6', 'SAT,SUN', '6-7', '5-7'])],
    [4, () => list(r, 'dow', () => numericItem(r, 0, 7, v, show))],
    [1, lastOf],
    [1, () => `${list(r, 'dow', () => String(v()), 2)},${lastOf()}`],
    // cron-parser takes `#` only with a single weekday.
    [2, () => `${show(v())}#${r.int(1, 5)}`],
  ]);
}

export function randomExpression(r) {
  if (r.chance(0.04)) return r.pick(NICKNAMES);
  const six = r.chance(0.25);
  const fields = [minuteField(r), hourField(r), dayOfMonthField(r), monthField(r), dayOfWeekField(r)];
  if (six) fields.unshift(secondField(r));
  return fields.join(r.chance(0.05) ? '  ' : ' ');
}

// ------------------------------------------------------------ start instants
function randomStart(r, transitions) {
  const msPart = () => (r.chance(0.5) ? 0 : r.int(1, 999));
  const uniform = () => {
    const from = Date.UTC(YEAR_FROM, 0, 1) / 1000, to = Date.UTC(YEAR_TO, 11, 31) / 1000;
    const base = r.chance(0.5) ? r.int(from, to) : Math.floor(r.int(from, to) / 60) * 60;
    return base * 1000 + msPart();
  };
  if (!transitions.length || r.chance(0.3)) return uniform();
  const tr = r.pick(transitions);
  const at = tr.at / 1000;
  const jump = Math.abs(tr.after - tr.before);
  const sec = r.weighted([
    [4, () => at + r.int(-3 * 3600, 3 * 3600)],
    [3, () => at + r.int(-26 * 3600, 26 * 3600)],
    // On the edges of the transition and of its gap or fold.
    [2, () => at + r.pick([-1, 0, 1]) + r.pick([0, 0, -jump, jump])],
    // Whole minutes and hours around it, where fires sit.
    [2, () => at + 60 * r.int(-180, 180)],
  ]);
  return sec * 1000 + (r.chance(0.3) ? msPart() : 0);
}

// cron-parser's answer: { fires: [epoch seconds], error: null | text }.
export function theirAnswer(expr, zone, fromMs, count, prev) {
  let it;
  try {
    it = CronExpressionParser.parse(expr, { currentDate: new Date(fromMs), tz: zone });
  } catch (e) {
    return { fires: [], error: `parse: ${e.message}` };
  }
  const fires = [];
  for (let i = 0; i < count; i++) {
    try {
      const d = prev ? it.prev() : it.next();
      fires.push(d.getTime() / 1000);
    } catch (e) {
      return { fires, error: `search: ${e.message}` };
    }
  }
  return { fires, error: null };
}

export function generate(seed, n) {
  const r = makeRandom(seed);
  const lo = Date.UTC(YEAR_FROM, 0, 1), hi = Date.UTC(YEAR_TO + 1, 0, 1);
  const transitions = new Map(ZONES.map((z) => [z, intlTransitions(z, lo, hi)]));
  const cases = [];
  for (let id = 0; id < n; id++) {
    const zone = r.weighted([
      [3, () => r.pick(['America/New_York', 'Europe/London', 'Australia/Lord_Howe', 'Australia/Sydney', 'Pacific/Chatham', 'America/St_Johns', 'America/Santiago'])],
      [5, () => r.pick(ZONES)],
    ]);
    const expr = randomExpression(r);
    const from = randomStart(r, transitions.get(zone));
    const prev = r.chance(0.3);
    const count = r.weighted([[6, 5], [2, 8], [1, 1]]);
    cases.push({ id, expr, zone, from, count, dir: prev ? 'prev' : 'next' });
  }
  return cases;
}

// cron-parser is slow on DST days (it steps hour by hour, and a search it
// cannot finish takes 10,000 steps), so the answers are computed by worker
// threads, DIFF_JOBS of them (default: one per core, at most 4).
async function answerAll(cases) {
  const jobs = Math.max(1, Math.min(Number.parseInt(process.env.DIFF_JOBS ?? '0', 10) || availableParallelism(), 4, cases.length));
  const chunks = Array.from({ length: jobs }, () => []);
  cases.forEach((c, i) => chunks[i % jobs].push(c));
  const results = await Promise.all(
    chunks.map(
      (chunk) =>
        new Promise((resolve, reject) => {
          const w = new Worker(new URL(import.meta.url), { workerData: chunk });
          w.once('message', resolve);
          w.once('error', reject);
          w.once('exit', (code) => code && reject(new Error(`worker exited with ${code}`)));
        }),
    ),
  );
  for (const answered of results) for (const c of answered) cases[c.id].theirs = c.theirs;
}

async function main() {
  const out = process.argv[2];
  if (!out) {
    console.error('usage: node gen.mjs OUTDIR');
    process.exit(2);
  }
  const seed = Number.parseInt(process.env.DIFF_SEED ?? '1', 10);
  const n = Number.parseInt(process.env.DIFF_CASES ?? '4000', 10);
  if (!Number.isFinite(seed) || !Number.isFinite(n) || n < 1 || n > 1000000) {
    console.error('DIFF_SEED and DIFF_CASES must be whole numbers (DIFF_CASES 1-1000000)');
    process.exit(2);
  }
  const cases = generate(seed, n);
  await answerAll(cases);
  const tsv = [], jsonl = [];
  for (const c of cases) {
    tsv.push([c.expr, c.zone, c.from, c.count, c.dir].join('\t'));
    jsonl.push(JSON.stringify(c));
  }
  writeFileSync(join(out, 'cases.tsv'), tsv.join('\n') + '\n');
  writeFileSync(join(out, 'cases.jsonl'), jsonl.join('\n') + '\n');
  console.log(`generated ${cases.length} cases (seed ${seed})`);
}

if (!isMainThread) {
  const answered = workerData.map((c) => ({ id: c.id, theirs: theirAnswer(c.expr, c.zone, c.from, c.count, c.dir === 'prev') }));
  parentPort.postMessage(answered);
} else if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
