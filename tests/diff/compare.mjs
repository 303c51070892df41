// compare.mjs — judges cronflow's answers against cron-parser's.
//
//   node compare.mjs OUTDIR
//
// Reads OUTDIR/cases.jsonl (cases with cron-parser's answers, from gen.mjs)
// and OUTDIR/ours.txt (cron_batch's answers, one line per case), and prints
// a verdict for every case that fails, a count per class, and the closing
// line "SUMMARY: N passed, M failed". Exits 1 when anything failed.
//
// Every case that has fire instants is first checked against oracle.mjs, an
// independent brute-force reading of the DST rule in DESIGN.md: ours must
// equal it, whatever cron-parser says. Then:
//  - ours == cron-parser's: agreement;
//  - they differ: the case passes only when the difference falls into one of
//    the classes documented in docs/cron.md ("Differences from cron-parser"),
//    each recognised by the precise rule in classify() below. Anything else
//    fails: a disagreement nobody has explained is a defect until it is.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CronExpressionParser } from 'cron-parser';
import { intlOffset, listOverlaps, listUnion, theirAnswer } from './gen.mjs';
import { ZdumpZone, oracleFires } from './oracle.mjs';

// Within this many seconds of a zone transition a difference counts as the
// transition's doing.
const NEAR = 26 * 3600;
const LOOP_LIMIT = 'Invalid expression, loop limit exceeded';

// The classes documented in docs/cron.md, by the labels printed here.
export const CLASSES = {
  'gap-next': "next() around a spring-forward gap: cron-parser drops or misplaces fires (gaps that are not one whole hour starting on the hour, starts inside the hour after the gap)",
  'gap-prev': 'prev() across a spring-forward gap: cron-parser skips the fires the gap shifted, or returns instants out of order',
  'fold-next': 'next() in a fall-back fold: cron-parser fires in the second pass (starts inside the fold, folds that repeat midnight) or drops the second pass of an hourly schedule in a fold shorter than an hour',
  'fold-prev': 'prev() across a fall-back fold: cron-parser returns second-pass fires of schedules that are not hourly, or drops first-pass ones',
  'fold-stale-flag': "next() from a fraction of a second before a fold's second pass: cron-parser marks the repeated hour and later skips the first fire at that hour, days or weeks on",
  'loop-limit': "cron-parser gives up ('loop limit exceeded') on a search that crosses a transition",
  'tzdata': "Node's ICU time zone data differs from the system's tzdata that cronflow reads",
  'overlapping-list': 'cron-parser rejects a list whose items share a value; cronflow takes the union',
  'range-to-sunday': 'cron-parser rejects a day-of-week range ending on Sunday written 0 or SUN (FRI-SUN); cronflow reads that end as 7',
};

const FIELD_KINDS_5 = ['minute', 'hour', 'dom', 'month', 'dow'];
const FIELD_KINDS_6 = ['second', ...FIELD_KINDS_5];

// The expression with every list whose items overlap written as the union
// of its values, or null when no list overlaps.
function unionRewrite(expr) {
  if (expr.startsWith('@')) return null;
  const fields = expr.trim().split(/\s+/);
  const kinds = fields.length === 6 ? FIELD_KINDS_6 : FIELD_KINDS_5;
  let changed = false;
  const out = fields.map((f, i) => {
    if (!listOverlaps(kinds[i], f)) return f;
    changed = true;
    return listUnion(kinds[i], f);
  });
  return changed ? out.join(' ') : null;
}

// The expression with every day-of-week range that ends on Sunday written
// 0 or SUN ending at 7 instead, or null when there is none.
function sundayRewrite(expr) {
  if (expr.startsWith('@')) return null;
  const fields = expr.trim().split(/\s+/);
  const last = fields.length - 1;
  let changed = false;
  fields[last] = fields[last]
    .split(',')
    .map((item) => {
      const [range, step] = item.split('/');
      const m = /^([0-7]|[a-z]{3})-(0|sun)$/i.exec(range);
      if (!m || /^(0|sun)$/i.test(m[1])) return item;
      changed = true;
      return `${m[1]}-7${step !== undefined ? '/' + step : ''}`;
    })
    .join(',');
  return changed ? fields.join(' ') : null;
}

function iso(zone, t) {
  const o = zone.offsetAt(t);
  const sign = o < 0 ? '-' : '+';
  const a = Math.abs(o);
  const hh = String(Math.floor(a / 3600)).padStart(2, '0');
  const mm = String(Math.floor((a % 3600) / 60)).padStart(2, '0');
  return `${new Date((t + o) * 1000).toISOString().slice(0, 19)}${sign}${hh}:${mm}`;
}

// The transition nearest to t within NEAR, or null.
function nearTransition(zone, t) {
  let best = null;
  for (const tr of zone.transitionsIn(t - NEAR, t + NEAR)) {
    if (!best || Math.abs(tr.at - t) < Math.abs(best.at - t)) best = tr;
  }
  return best;
}

// True when Node's ICU and the system's tzdata disagree on the zone's
// offset at any of the instants, or around any transition between them.
function tzdataDiffers(zoneName, zone, instants) {
  const lo = Math.min(...instants) - NEAR, hi = Math.max(...instants) + NEAR;
  const probes = [...instants, lo, hi];
  for (const tr of zone.transitionsIn(lo, hi)) probes.push(tr.at - 1, tr.at);
  return probes.some((t) => intlOffset(zoneName, t * 1000) !== zone.offsetAt(t));
}

// Instants in one list and not the other, counting repeats, inside the part
// of the timeline both lists cover.
function difference(ours, theirs, prev) {
  const within = prev ? Math.max(Math.min(...ours), Math.min(...theirs)) : Math.min(Math.max(...ours), Math.max(...theirs));
  const inWindow = (t) => (prev ? t >= within : t <= within);
  const count = new Map();
  for (const t of ours) if (inWindow(t)) count.set(t, (count.get(t) ?? 0) + 1);
  for (const t of theirs) if (inWindow(t)) count.set(t, (count.get(t) ?? 0) - 1);
  const out = [];
  for (const [t, n] of count) if (n !== 0) out.push(t);
  // Out-of-order answers: each instant that does not move the right way.
  for (let i = 1; i < theirs.length; i++) {
    if (prev ? theirs[i] >= theirs[i - 1] : theirs[i] <= theirs[i - 1]) out.push(theirs[i]);
  }
  return out;
}

function localHour(zone, t) {
  return new Date((t + zone.offsetAt(t)) * 1000).getUTCHours();
}

// When a next() search starts with a fraction of a second inside the last
// second before a fold's second pass, cron-parser rounds up onto the
// repeated hour, flags it as repeated, and keeps that flag until the search
// next reaches that hour, which it then skips (the hour is that of the
// first wall time of the second pass). Returns that hour and the fold, or
// null when the case does not start so.
function staleFoldHour(c, zone) {
  if (c.dir !== 'next' || c.from % 1000 === 0) return null;
  const s = Math.floor(c.from / 1000);
  for (const tr of zone.transitionsIn(s + 1, s + 1)) {
    if (tr.after < tr.before) return { hour: localHour(zone, tr.at), transition: tr };
  }
  return null;
}

// Which documented class explains cron-parser's answer `theirs` differing
// from ours (already checked against the oracle); null when none does.
function classify(c, zone, ours, theirs) {
  const prev = c.dir === 'prev';
  const start = prev ? Math.ceil(c.from / 1000) : Math.floor(c.from / 1000);
  const all = [start, ...ours, ...theirs.fires];
  if (tzdataDiffers(c.zone, zone, all)) return { label: 'tzdata' };
  let label = null;
  if (theirs.error) {
    if (!theirs.error.endsWith(LOOP_LIMIT)) return null;
    // The search that failed ran from the last answer (or the start) to
    // where ours found the next fire; it must have crossed a transition.
    const k = theirs.fires.length;
    const from = k ? theirs.fires[k - 1] : start, to = ours[k];
    const lo = Math.min(from, to) - NEAR, hi = Math.max(from, to) + NEAR;
    if (!zone.transitionsIn(lo, hi).length) return null;
    label = 'loop-limit';
    if (!k) return { label };
  }
  const diff = difference(ours, theirs.fires, prev);
  if (!diff.length) return label ? { label } : null;
  const stale = staleFoldHour(c, zone);
  let first = null;
  for (const t of diff) {
    const tr = nearTransition(zone, t);
    if (tr) {
      first ??= tr;
    } else if (stale && localHour(zone, t) === stale.hour) {
      label ??= 'fold-stale-flag';
      first ??= stale.transition;
    } else {
      return null;
    }
  }
  const kind = first.after > first.before ? 'gap' : 'fold';
  return { label: label ?? `${kind}-${c.dir}`, transition: first };
}

// True when the oracle finds no fire in four centuries either way, the
// calendar's whole cycle (cron-parser may have parsed the expression and
// then given up searching).
function neverFires(c, zoneOf) {
  let fields;
  try {
    fields = CronExpressionParser.parse(c.expr, { tz: c.zone }).fields;
  } catch {
    return true;
  }
  try {
    return oracleFires(zoneOf(c.zone), fields, Date.UTC(2000, 0, 1) / 1000, 1, false).length === 0;
  } catch {
    return false;
  }
}

function parseOurs(line) {
  if (line === undefined) return { error: 'no answer line' };
  if (line.startsWith('ERR ')) return { error: line.slice(4) };
  return { fires: line.split(' ').map(Number) };
}

// The oracle itself is checked on answers worked out by hand from
// DESIGN.md, so that a broken oracle cannot bless a broken cronflow.
const ORACLE_CHECKS = [
  // [expr, zone, start (UTC ISO), direction, expected (UTC ISO)...]
  ['30 2 * * *', 'America/New_York', '2024-03-09T12:00:00Z', 'next', '2024-03-10T07:30:00Z', '2024-03-11T06:30:00Z'],
  ['30 2 * * *', 'America/New_York', '2024-03-11T12:00:00Z', 'prev', '2024-03-11T06:30:00Z', '2024-03-10T07:30:00Z', '2024-03-09T07:30:00Z'],
  ['15 2 * * *', 'Australia/Lord_Howe', '2024-10-05T00:00:00Z', 'next', '2024-10-05T15:45:00Z', '2024-10-06T15:15:00Z'],
  ['30 2,3 * * *', 'America/New_York', '2024-03-10T06:00:00Z', 'next', '2024-03-10T07:30:00Z', '2024-03-11T06:30:00Z'],
  ['30 1 * * *', 'America/New_York', '2024-11-03T04:00:00Z', 'next', '2024-11-03T05:30:00Z', '2024-11-04T06:30:00Z'],
  ['30 1 * * *', 'America/New_York', '2024-11-03T12:00:00Z', 'prev', '2024-11-03T05:30:00Z', '2024-11-02T05:30:00Z'],
  ['30 * * * *', 'America/New_York', '2024-11-03T05:00:00Z', 'next', '2024-11-03T05:30:00Z', '2024-11-03T06:30:00Z', '2024-11-03T07:30:00Z'],
  ['0 12 30 12 *', 'Pacific/Apia', '2011-12-01T00:00:00Z', 'next', '2011-12-30T22:00:00Z'],
  ['0 0 * * 5#2', 'UTC', '2024-01-01T00:00:00Z', 'next', '2024-01-12T00:00:00Z', '2024-02-09T00:00:00Z'],
  ['0 0 L * 1L', 'UTC', '2024-02-01T00:00:00Z', 'next', '2024-02-26T00:00:00Z', '2024-02-29T00:00:00Z', '2024-03-25T00:00:00Z'],
];

function oracleSelfTest(zoneOf) {
  const failures = [];
  for (const [expr, zone, from, dir, ...want] of ORACLE_CHECKS) {
    const fields = CronExpressionParser.parse(expr, { tz: zone }).fields;
    const got = oracleFires(zoneOf(zone), fields, Date.parse(from) / 1000, want.length, dir === 'prev');
    const wantS = want.map((t) => Date.parse(t) / 1000);
    if (got.join(' ') !== wantS.join(' ')) {
      failures.push(`oracle self-test ${JSON.stringify(expr)} ${zone} ${dir} from ${from}: got ${got.map((t) => new Date(t * 1000).toISOString()).join(' ')}`);
    }
  }
  return failures;
}

function main() {
  const dir = process.argv[2];
  const cases = readFileSync(join(dir, 'cases.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const oursLines = readFileSync(join(dir, 'ours.txt'), 'utf8').split('\n');
  const zones = new Map();
  const zoneOf = (name) => {
    if (!zones.has(name)) zones.set(name, new ZdumpZone(name));
    return zones.get(name);
  };
  const counts = new Map();
  const examples = new Map();
  const failures = oracleSelfTest(zoneOf);
  let passed = ORACLE_CHECKS.length - failures.length;
  const tally = (label, c, detail) => {
    counts.set(label, (counts.get(label) ?? 0) + 1);
    if (!examples.has(label)) examples.set(label, { c, detail });
    passed++;
  };
  const show = (zone, list) => list.map((t) => iso(zone, t)).join(' ');
  for (const c of cases) {
    const ours = parseOurs(oursLines[c.id]);
    let theirs = c.theirs;
    let expr = c.expr;
    const fail = (why, extra = '') => failures.push(`#${c.id} ${JSON.stringify(c.expr)} ${c.zone} from ${new Date(c.from).toISOString()} ${c.dir} ${c.count}: ${why}${extra}`);
    const theirParseError = theirs.error?.startsWith('parse: ') ? theirs.error : null;
    if (ours.error) {
      if (theirParseError && !/duplicate values found/.test(theirParseError)) {
        tally('agree: both reject', c);
      } else if (ours.error.startsWith('CRON_NEVER') && !theirs.fires.length && theirs.error && neverFires(c, zoneOf)) {
        tally('agree: never fires', c);
      } else {
        fail(`ours is ${ours.error}; cron-parser ${theirs.error ?? 'answers ' + theirs.fires.join(' ')}`);
      }
      continue;
    }
    let prefix = '';
    if (theirParseError) {
      // Ours must answer the expression as cron-parser answers it written
      // the way it accepts: ranges to Sunday ending at 7, overlapping
      // lists as their union.
      let rewrite = null;
      const labels = [];
      if (/Invalid range: \d+-0,/.test(theirParseError) && (rewrite = sundayRewrite(c.expr))) {
        labels.push('range-to-sunday');
        theirs = theirAnswer(rewrite, c.zone, c.from, c.count, c.dir === 'prev');
      }
      const dup = (e) => e && /duplicate values found/.test(e);
      const base = rewrite ?? c.expr;
      if (dup(rewrite ? theirs.error : theirParseError)) {
        const union = unionRewrite(base);
        if (union) {
          rewrite = union;
          labels.push('overlapping-list');
          theirs = theirAnswer(rewrite, c.zone, c.from, c.count, c.dir === 'prev');
        }
      }
      if (!rewrite || !labels.length) {
        fail(`cron-parser rejects it (${theirParseError}); ours answers ${ours.fires.join(' ')}`);
        continue;
      }
      expr = rewrite;
      if (theirs.error?.startsWith('parse: ')) {
        fail(`cron-parser rejects the rewrite ${JSON.stringify(rewrite)} too: ${theirs.error}`);
        continue;
      }
      prefix = labels.join(' + ');
    }
    const zone = zoneOf(c.zone);
    const prev = c.dir === 'prev';
    const start = prev ? Math.ceil(c.from / 1000) : Math.floor(c.from / 1000);
    let oracle;
    try {
      const fields = CronExpressionParser.parse(expr, { tz: c.zone }).fields;
      oracle = oracleFires(zone, fields, start, c.count, prev);
    } catch (e) {
      fail(`the oracle cannot answer: ${e.message}`);
      continue;
    }
    if (oracle.join(' ') !== ours.fires.join(' ')) {
      fail('ours breaks the DST rule', `\n    ours   ${show(zone, ours.fires)}\n    oracle ${show(zone, oracle)}\n    theirs ${show(zone, theirs.fires)}${theirs.error ? ' ' + theirs.error : ''}`);
      continue;
    }
    if (!theirs.error && theirs.fires.join(' ') === ours.fires.join(' ')) {
      tally(prefix || 'agree', c);
      continue;
    }
    const cls = classify(c, zone, ours.fires, theirs);
    if (!cls || !CLASSES[cls.label]) {
      fail('an undocumented difference', `\n    ours   ${show(zone, ours.fires)}\n    theirs ${show(zone, theirs.fires)}${theirs.error ? ' ' + theirs.error : ''}`);
      continue;
    }
    const tr = cls.transition ? ` near ${iso(zone, cls.transition.at - 1)} -> ${iso(zone, cls.transition.at)}` : '';
    tally(prefix ? `${prefix} + ${cls.label}` : cls.label, c, `${tr}\n    ours   ${show(zone, ours.fires)}\n    theirs ${show(zone, theirs.fires)}${theirs.error ? ' ' + theirs.error : ''}`);
  }
  for (const f of failures.slice(0, 40)) console.log(`FAIL ${f}`);
  if (failures.length > 40) console.log(`... and ${failures.length - 40} more failures`);
  console.log('classes:');
  for (const [label, n] of [...counts].sort((a, b) => b[1] - a[1])) {
    const ex = examples.get(label);
    console.log(`  ${String(n).padStart(5)}  ${label}`);
    if (process.env.DIFF_VERBOSE && ex.detail) {
      console.log(`         e.g. #${ex.c.id} ${JSON.stringify(ex.c.expr)} ${ex.c.zone} ${ex.c.dir} from ${iso(zoneOf(ex.c.zone), Math.floor(ex.c.from / 1000))}${ex.detail}`);
    }
  }
  console.log(`SUMMARY: ${passed} passed, ${failures.length} failed`);
  process.exitCode = failures.length ? 1 : 0;
}

main();
