// oracle.mjs — a third, deliberately naive opinion on when a cron expression
// fires, written straight from docs/cron.md and DESIGN.md ("Time zones and
// DST"), sharing no code with src/cron or src/tz.
//
// The zone timeline comes from the system's zdump (glibc's reader of the same
// TZif files cronflow reads), not from our tz module and not from Node's ICU,
// whose tzdata version may differ. The field values come from cron-parser's
// parse of the expression; how a day matches, how wall times map to instants
// across gaps and folds, and the search are done here, by brute force:
// every matching wall time is enumerated in order, mapped to its fire
// instants, and the first `count` instants past the start are kept.
//
// The rule it implements, for a wall time W that the fields match:
//  - W happens once: it fires at that instant;
//  - W falls in a gap (spring forward): it fires at W read with the offset in
//    force before the jump, i.e. shifted later by the gap's length;
//  - W happens twice (fold): it fires at the first occurrence, and at the
//    second too when the hour field holds all 24 hours.
// Fire instants are a set: a shifted instant equal to a regular one is one
// fire. next/prev walk that set.

import { execFileSync } from 'node:child_process';

const MONTHS = { Jan: 0, Feb: 1, Mar: 2, Apr: 3, May: 4, Jun: 5, Jul: 6, Aug: 7, Sep: 8, Oct: 9, Nov: 10, Dec: 11 };

// zdump covers these years; the oracle refuses to answer outside them.
export const ZDUMP_FROM_YEAR = 1900;
export const ZDUMP_TO_YEAR = 2200;
const LOW = Date.UTC(ZDUMP_FROM_YEAR, 0, 2) / 1000;
const HIGH = Date.UTC(ZDUMP_TO_YEAR, 0, 1) / 1000 - 2 * 86400;

function parseOffset(text) {
  const m = /^([+-])(\d\d)(\d\d)?(\d\d)?$/.exec(text);
  if (!m) throw new Error(`zdump: unreadable offset ${text}`);
  const v = +m[2] * 3600 + +(m[3] ?? 0) * 60 + +(m[4] ?? 0);
  return m[1] === '-' ? -v : v;
}

// A zone as zdump sees it: transitions [{at, before, after}] sorted by at.
export class ZdumpZone {
  constructor(name) {
    this.name = name;
    const text = execFileSync('zdump', ['-v', '-c', `${ZDUMP_FROM_YEAR},${ZDUMP_TO_YEAR}`, name], {
      encoding: 'utf8',
      timeout: 10000,
    });
    const points = [];
    const re = / (\w{3}) (\w{3}) +(\d+) (\d\d):(\d\d):(\d\d) (-?\d+) UT = .* gmtoff=(-?\d+)$/;
    for (const line of text.split('\n')) {
      const m = re.exec(line);
      if (!m) continue;
      const at = Date.UTC(+m[7], MONTHS[m[2]], +m[3], +m[4], +m[5], +m[6]) / 1000;
      points.push({ at, offset: +m[8] });
    }
    if (points.length % 2) throw new Error(`zdump ${name}: odd number of lines`);
    this.transitions = [];
    for (let i = 0; i < points.length; i += 2) {
      const a = points[i], b = points[i + 1];
      if (b.at !== a.at + 1) throw new Error(`zdump ${name}: unpaired line near ${a.at}`);
      if (a.offset !== b.offset) this.transitions.push({ at: b.at, before: a.offset, after: b.offset });
    }
    if (this.transitions.length) {
      this.initial = this.transitions[0].before;
    } else {
      const info = execFileSync('zdump', ['-i', '-c', `${ZDUMP_FROM_YEAR},${ZDUMP_TO_YEAR}`, name], {
        encoding: 'utf8',
        timeout: 10000,
      });
      const m = /^-\t-\t([+-]\d+)/m.exec(info);
      if (!m) throw new Error(`zdump ${name}: no initial offset`);
      this.initial = parseOffset(m[1]);
    }
  }

  // Index of the last transition at or before t, or -1.
  #index(t) {
    let lo = 0, hi = this.transitions.length - 1, r = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.transitions[mid].at <= t) {
        r = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return r;
  }

  offsetAt(t) {
    const i = this.#index(t);
    return i < 0 ? this.initial : this.transitions[i].after;
  }

  // Transitions with from <= at <= to.
  transitionsIn(from, to) {
    const out = [];
    for (let i = Math.max(0, this.#index(from)); i < this.transitions.length; i++) {
      const tr = this.transitions[i];
      if (tr.at > to) break;
      if (tr.at >= from) out.push(tr);
    }
    return out;
  }

  // Least and greatest offsets in force at any instant of [from, to].
  offsetRange(from, to) {
    let min = this.offsetAt(from), max = min;
    for (const tr of this.transitionsIn(from, to)) {
      min = Math.min(min, tr.after);
      max = Math.max(max, tr.after);
    }
    return { min, max };
  }

  // The fire instants a matching wall time W (local seconds) stands for.
  instantsOf(W, everyHour) {
    // Offsets are within a day of zero, so W's instants lie in W +- 1 day.
    const offsets = new Set([this.offsetAt(W - 86400)]);
    const near = this.transitionsIn(W - 86400, W + 86400);
    for (const tr of near) offsets.add(tr.after);
    const hits = [];
    for (const o of offsets) if (this.offsetAt(W - o) === o) hits.push(W - o);
    hits.sort((a, b) => a - b);
    if (hits.length) return everyHour ? hits : [hits[0]];
    // A gap: the transition whose jump skipped W.
    for (const tr of near) {
      if (tr.before < tr.after && W >= tr.at + tr.before && W < tr.at + tr.after) return [W - tr.before];
    }
    throw new Error(`oracle: ${this.name}: wall ${W} has no instant and is in no gap`);
  }
}

const DAY = 86400;

function daysInMonth(y, m0) {
  return new Date(Date.UTC(y, m0 + 1, 0)).getUTCDate();
}

// The day rule, from cron-parser's parsed fields: plain values, `L` in
// day-of-month, `nL` and (one) `#k` in day-of-week; both restricted = either.
function dayMatcher(fields) {
  const dom = fields.dayOfMonth, dow = fields.dayOfWeek;
  const domDays = new Set(dom.values.filter((v) => typeof v === 'number'));
  const domLast = dom.values.includes('L');
  const dowDays = new Set(dow.values.filter((v) => typeof v === 'number').map((v) => v % 7));
  const dowLast = new Set(dow.values.filter((v) => typeof v === 'string' && /^[0-7]L$/.test(v)).map((v) => +v[0] % 7));
  for (const v of dow.values) {
    if (typeof v === 'string' && !/^[0-7]L$/.test(v)) throw new Error(`oracle: day-of-week value ${v}`);
  }
  for (const v of dom.values) {
    if (typeof v === 'string' && v !== 'L') throw new Error(`oracle: day-of-month value ${v}`);
  }
  const nth = dow.nthDay || 0;
  const months = new Set(fields.month.values);
  return (y, m0, d) => {
    if (!months.has(m0 + 1)) return false;
    const dim = daysInMonth(y, m0);
    const wd = new Date(Date.UTC(y, m0, d)).getUTCDay();
    const domHit = domDays.has(d) || (domLast && d === dim);
    const dowHit = (dowDays.has(wd) && (nth === 0 || Math.ceil(d / 7) === nth)) || (dowLast.has(wd) && d > dim - 7);
    if (dom.isWildcard && dow.isWildcard) return true;
    if (dom.isWildcard) return dowHit;
    if (dow.isWildcard) return domHit;
    return domHit || dowHit;
  };
}

// Matching wall times (local seconds) from `from` on, ascending (or from
// `from` back, descending), day by day. Stops by itself past `limitDays`.
function* walls(fields, from, descending, limitDays) {
  const dayOk = dayMatcher(fields);
  const secs = [...fields.second.values].sort((a, b) => a - b);
  const mins = [...fields.minute.values].sort((a, b) => a - b);
  const hours = [...fields.hour.values].sort((a, b) => a - b);
  if (descending) {
    secs.reverse();
    mins.reverse();
    hours.reverse();
  }
  let day = Math.floor(from / DAY);
  for (let n = 0; n < limitDays; n++, day += descending ? -1 : 1) {
    const date = new Date(day * DAY * 1000);
    if (!dayOk(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate())) continue;
    for (const h of hours) {
      for (const m of mins) {
        for (const s of secs) {
          const W = day * DAY + h * 3600 + m * 60 + s;
          if (descending ? W <= from : W >= from) yield W;
        }
      }
    }
  }
}

// The first `count` fire instants strictly after `after` (or strictly before
// `before` when prev), as epoch seconds. `fields` is cron-parser's
// CronFieldCollection. Throws when the search leaves zdump's years.
export function oracleFires(zone, fields, start, count, prev) {
  const everyHour = fields.hour.values.length === 24;
  const found = new Set();
  const best = () => [...found].sort((a, b) => (prev ? b - a : a - b)).slice(0, count);
  if (!prev) {
    // An instant t > start has wall t + o for an offset o in force at t; a
    // wall below start + 1 + (least offset near start) cannot be later than
    // start + 2 days, since offsets are less than a day.
    const { min } = zone.offsetRange(start - 2 * DAY, start + 2 * DAY);
    const gen = walls(fields, start + 1 + min, false, 366 * 400);
    let range = null, bound = Infinity;
    for (const W of gen) {
      if (W - 2 * DAY > HIGH) throw new Error('oracle: search left zdump years');
      if (W > bound) break;
      for (const t of zone.instantsOf(W, everyHour)) if (t > start) found.add(t);
      if (found.size >= count) {
        const last = best()[count - 1];
        if (!range || range.to < last) range = { to: last + 2 * DAY, ...zone.offsetRange(start - 2 * DAY, last + 2 * DAY) };
        // No wall past last + max offset can fire before `last`.
        bound = last + range.max;
        // Keep the set small.
        for (const t of found) if (t > last) found.delete(t);
      }
    }
  } else {
    const { max } = zone.offsetRange(start - 2 * DAY, start + 2 * DAY);
    const gen = walls(fields, start - 1 + max, true, 366 * 400);
    let range = null, bound = -Infinity;
    for (const W of gen) {
      if (W + 2 * DAY < LOW) throw new Error('oracle: search left zdump years');
      if (W < bound) break;
      for (const t of zone.instantsOf(W, everyHour)) if (t < start) found.add(t);
      if (found.size >= count) {
        const last = best()[count - 1];
        if (!range || range.from > last) range = { from: last - 2 * DAY, ...zone.offsetRange(last - 2 * DAY, start + 2 * DAY) };
        bound = last + range.min;
        for (const t of found) if (t < last) found.delete(t);
      }
    }
  }
  return best();
}
