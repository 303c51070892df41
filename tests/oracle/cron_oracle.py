"""cron_oracle.py - an independent, deliberately naive model of cronflow's cron
semantics, used to check the C implementation (src/cron/, src/tz/).

The semantics are those of docs/cron.md, which refines section 3 of the
design brief: `?` means `*` in any field, `n#L` is `nL`, `@secondly` exists.
It shares no code and no algorithm with the C side. Where the C code walks
bit masks period by period over its own TZif reader, this file:

  * parses an expression with regular expressions into plain Python sets;
  * decides "does this calendar day match?" one day at a time, straight from
    the rules in docs/cron.md;
  * turns every matching wall-clock time into UTC instants with the standard
    library's zoneinfo (system tzdata) and PEP 495's `fold`:
        - a wall time that happens once fires once;
        - a wall time inside a spring-forward gap fires once, at the wall
          time read with the offset in force before the jump (fold=0),
          which is the wall time moved later by the gap's length
          (02:30 -> 03:30 in New York, 02:15 -> 02:45 on Lord Howe);
        - a wall time inside a fall-back fold fires at its first occurrence
          (fold=0), and also at its second (fold=1) when the hour field
          covers all 24 hours;
    the fire instants are a *set*, so a shifted instant that is also a
    regular fire counts once;
  * answers next/prev by scanning wall times day by day around the start and
    keeping the least (greatest) instant past it. Slow, and obviously so.

Wall times run from 0001-01-01 to 9999-12-31 (local); past that there is no
next (prev) fire. Expressions longer than 1,024 bytes are refused, as in
cron.h.

`H` (hashed) values depend on the implementation's hash, so the oracle only
models `H(a-a)` and `H(a-a)/s` (a one-value range); any other `H` raises
Unsupported. tests/suites/cron_cases.sh checks H's properties instead.

Commands (stdlib only; run with python3):

  cron_oracle.py next EXPR [--tz ZONE] [--from ISO] [--count N] [--prev]
      Prints fire instants like `cronflow cron next`; after the last one
      that exists it prints `end` (the case-file marker for "exhausted").
  cron_oracle.py check FILE.cases...
      Recomputes every block of the case files (format: the header of
      tests/cron/syntax.cases) and reports any block whose expected lines
      differ from the oracle's answer; error blocks must be refused by the
      oracle too. This is how the expected values in tests/cron/ were
      verified. Blocks marked `known:` are checked like any other.
  cron_oracle.py random --binary PATH [--seed N] [--cases N] [--jobs N]
                        [--budget SECONDS]
      The randomized differential run used by tests/suites/cron_oracle.sh:
      random expressions x DST-heavy zones x starts near offset changes
      (and exactly at them, and exactly at fires). For each triple it
      compares `cron next` and `cron next --prev` (3-8 instants) with the
      oracle, then checks on the binary alone that walking back from the
      last next-fire retraces the fires and lands on the start or the
      first prev-fire (prev(next(t))), and the mirror (next(prev(t))).
"""

import argparse
import calendar
import datetime as dt
import os
import random
import re
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from zoneinfo import ZoneInfo

# ------------------------------------------------------------------ parsing

FIELDS = (
    ("second", 0, 59),
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day-of-month", 1, 31),
    ("month", 1, 12),
    ("day-of-week", 0, 7),
)
SEC, MIN, HOUR, DOM, MON, DOW = range(6)

MONTH_NAMES = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN",
               "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
DAY_NAMES = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]

NICKNAMES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
    "@minutely": "* * * * *",
    "@secondly": "* * * * * *",
    "@weekdays": "0 0 * * 1-5",
    "@weekends": "0 0 * * 0,6",
}

TEXT_MAX = 1024  # CRON_TEXT_MAX in src/cron/cron.h


class CronError(Exception):
    """A rejected expression; `field` is a FIELDS name or None."""

    def __init__(self, field, message):
        super().__init__(f"{field or 'expression'}: {message}")
        self.field = field


class Unsupported(Exception):
    """An expression the oracle cannot model (hashed H values)."""


class Expr:
    """A parsed expression: plain sets, one per field."""

    def __init__(self):
        self.seconds = set()
        self.minutes = set()
        self.hours = set()
        self.months = set()
        self.dom_star = False  # day-of-month is exactly * or ?
        self.dow_star = False
        self.dom_days = set()          # plain days 1-31
        self.dom_before_last = set()   # L-n: n days before the last (L: 0)
        self.dom_nearest = set()       # nW
        self.dom_nearest_last = set()  # L-nW (LW: 0)
        self.dow_days = set()          # 0-6, Sunday 0
        self.dow_last = set()          # wL
        self.dow_nth = set()           # (w, k) for w#k
        self.has_seconds = False

    @property
    def every_hour(self):
        return self.hours == set(range(24))


def _value(token, f):
    """A number or, for month/day-of-week, a three-letter name."""
    if token.isdigit():
        return int(token)
    names = MONTH_NAMES if f == MON else DAY_NAMES if f == DOW else None
    if names and token.upper() in names:
        i = names.index(token.upper())
        return i + 1 if f == MON else i
    raise CronError(FIELDS[f][0], f"bad value {token!r}")


def _checked(token, f):
    v = _value(token, f)
    name, lo, hi = FIELDS[f]
    if not lo <= v <= hi:
        raise CronError(name, f"{v} is out of range {lo}-{hi}")
    return v


VAL = r"(\d+|[A-Za-z]{3})"
RE_STAR = re.compile(r"^[*?](?:/(\d+))?$")
RE_PLAIN = re.compile(rf"^{VAL}(?:-{VAL})?(?:/(\d+))?$")
RE_HASH = re.compile(rf"^[Hh](?:\({VAL}-{VAL}\))?(?:/(\d+))?$")
RE_DOM_LAST = re.compile(r"^[Ll](?:-(\d+))?([Ww]?)$")
RE_DOM_NEAREST = re.compile(r"^(\d+)[Ww]$")
RE_DOW_LAST = re.compile(rf"^{VAL}[Ll]$")
RE_DOW_NTH = re.compile(rf"^{VAL}#(\d+|[Ll])$")


def _add(e, f, values):
    """Adds plain values to field f (day-of-week 7 is Sunday)."""
    target = {SEC: e.seconds, MIN: e.minutes, HOUR: e.hours, DOM: e.dom_days,
              MON: e.months, DOW: e.dow_days}[f]
    for v in values:
        target.add(v % 7 if f == DOW else v)


def _step(text, f):
    s = int(text)
    if s < 1:
        raise CronError(FIELDS[f][0], "step must be 1 or more")
    return s


def _item(e, f, item):
    name, lo, hi = FIELDS[f]
    if item == "":
        raise CronError(name, "empty list item")
    m = RE_STAR.match(item)
    if m:
        step = _step(m.group(1), f) if m.group(1) else 1
        _add(e, f, range(lo, hi + 1, step))
        return
    m = RE_HASH.match(item)
    if m:
        if m.group(3):
            _step(m.group(3), f)
        if m.group(1) is None:
            raise Unsupported("H without a one-value range")
        a, b = _checked(m.group(1), f), _checked(m.group(2), f)
        if a > b:
            raise CronError(name, "backwards H range")
        if a != b:
            raise Unsupported("H over a range of several values")
        _add(e, f, [a])
        return
    if f == DOM:
        m = RE_DOM_LAST.match(item)
        if m:
            n = int(m.group(1)) if m.group(1) is not None else 0
            if m.group(1) is not None and not 1 <= n <= 30:
                raise CronError(name, "L-n offset out of range")
            (e.dom_nearest_last if m.group(2) else e.dom_before_last).add(n)
            return
        m = RE_DOM_NEAREST.match(item)
        if m:
            e.dom_nearest.add(_checked(m.group(1), f))
            return
    if f == DOW:
        m = RE_DOW_LAST.match(item)
        if m:
            e.dow_last.add(_checked(m.group(1), f) % 7)
            return
        m = RE_DOW_NTH.match(item)
        if m:
            w = _checked(m.group(1), f) % 7
            if m.group(2) in ("L", "l"):  # n#L is another spelling of nL
                e.dow_last.add(w)
                return
            k = int(m.group(2))
            if not 1 <= k <= 5:
                raise CronError(name, "#k must be 1-5")
            e.dow_nth.add((w, k))
            return
    m = RE_PLAIN.match(item)
    if not m:
        raise CronError(name, f"cannot read {item!r}")
    a = _checked(m.group(1), f)
    b = _checked(m.group(2), f) if m.group(2) else None
    step = _step(m.group(3), f) if m.group(3) else None
    if b is not None and a > b:
        raise CronError(name, "range runs backwards")
    if b is None:
        b = hi if step else a  # N/step means N-max/step
    _add(e, f, range(a, b + 1, step or 1))


def parse(text):
    """Parses `text` into an Expr; raises CronError or Unsupported."""
    if len(text.encode("utf-8", "surrogateescape")) > TEXT_MAX:
        raise CronError(None, "too long")
    for ch in text:
        if ch not in " \t" and not 32 < ord(ch) < 127:
            raise CronError(None, f"bad character {ch!r}")
    body = text.strip(" \t")
    if body.startswith("@"):
        if body.lower() not in NICKNAMES:
            raise CronError(None, "unknown nickname")
        body = NICKNAMES[body.lower()]
    parts = [p for p in re.split(r"[ \t]+", body) if p]
    if len(parts) not in (5, 6):
        raise CronError(None, f"{len(parts)} fields")
    e = Expr()
    e.has_seconds = len(parts) == 6
    if not e.has_seconds:
        parts = ["0"] + parts
    for f, part in enumerate(parts):
        if f == DOM:
            e.dom_star = part in ("*", "?")
        if f == DOW:
            e.dow_star = part in ("*", "?")
        for item in part.split(","):
            _item(e, f, item)
    e.tods = sorted(h * 3600 + m * 60 + s for h in e.hours
                    for m in e.minutes for s in e.seconds)
    if not _fires_somewhere(e):
        raise CronError(None, "can never fire")
    return e


def _fires_somewhere(e):
    """Whether any day in a full 400-year Gregorian cycle matches."""
    d = dt.date(2000, 1, 1)
    end = dt.date(2400, 1, 1)
    while d < end:
        if d.month not in e.months:
            d = (d.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
            continue
        if day_matches(e, d):
            return True
        d += dt.timedelta(days=1)
    return False


# ---------------------------------------------------------------- day rules

def weekday(d):
    """0 = Sunday ... 6 = Saturday."""
    return d.isoweekday() % 7


def nearest_weekday(year, month, n):
    """The weekday nearest day n of the month, never leaving the month:
    Saturday -> Friday (but the 1st -> Monday the 3rd), Sunday -> Monday
    (but the last day -> Friday). None when day n does not exist."""
    last = calendar.monthrange(year, month)[1]
    if not 1 <= n <= last:
        return None
    wd = weekday(dt.date(year, month, n))
    if wd == 6:  # Saturday
        return n - 1 if n > 1 else n + 2
    if wd == 0:  # Sunday
        return n + 1 if n < last else n - 2
    return n


def dom_matches(e, d):
    last = calendar.monthrange(d.year, d.month)[1]
    if d.day in e.dom_days:
        return True
    if any(last - n == d.day for n in e.dom_before_last):
        return True
    if any(nearest_weekday(d.year, d.month, n) == d.day for n in e.dom_nearest):
        return True
    return any(nearest_weekday(d.year, d.month, last - n) == d.day
               for n in e.dom_nearest_last)


def dow_matches(e, d):
    wd = weekday(d)
    last = calendar.monthrange(d.year, d.month)[1]
    if wd in e.dow_days:
        return True
    if wd in e.dow_last and d.day + 7 > last:
        return True
    return (wd, (d.day - 1) // 7 + 1) in e.dow_nth


def day_matches(e, d):
    if d.month not in e.months:
        return False
    if e.dom_star and e.dow_star:
        return True
    if e.dow_star:
        return dom_matches(e, d)
    if e.dom_star:
        return dow_matches(e, d)
    return dom_matches(e, d) or dow_matches(e, d)


# ------------------------------------------------------------ wall <-> UTC

EPOCH_ORD = dt.date(1970, 1, 1).toordinal()
MIN_WALL = (dt.date(1, 1, 1).toordinal() - EPOCH_ORD) * 86400
MAX_WALL = (dt.date(9999, 12, 31).toordinal() - EPOCH_ORD) * 86400 + 86399


def wall_to_naive(w):
    days, rest = divmod(w, 86400)
    d = dt.date.fromordinal(EPOCH_ORD + days)
    return dt.datetime(d.year, d.month, d.day, rest // 3600, rest // 60 % 60,
                       rest % 60)


def naive_to_wall(n):
    return ((n.toordinal() - EPOCH_ORD) * 86400 + n.hour * 3600 +
            n.minute * 60 + n.second)


class Zone:
    def __init__(self, name):
        self.name = name
        self.zi = dt.timezone.utc if name == "UTC" else ZoneInfo(name)
        self._bounds = {}

    def offsets(self, w):
        """(offset with fold=0, offset with fold=1) for wall time w."""
        n = wall_to_naive(w)
        a = n.replace(tzinfo=self.zi).utcoffset()
        b = n.replace(tzinfo=self.zi, fold=1).utcoffset()
        return int(a.total_seconds()), int(b.total_seconds())

    def offset_at(self, instant, fallback):
        """The UTC offset in force at a UTC instant."""
        try:
            u = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + \
                dt.timedelta(seconds=instant)
            return int(u.astimezone(self.zi).utcoffset().total_seconds())
        except (OverflowError, ValueError):
            return fallback

    def bounds(self, center):
        """Least and greatest offset seen within three days of `center`
        (either side of UTC; sampled every ten minutes, both folds)."""
        key = center // 3600
        if key not in self._bounds:
            seen = set()
            base = key * 3600
            for k in range(-3 * 144 - 12, 3 * 144 + 13):
                w = min(max(base + k * 600, MIN_WALL), MAX_WALL)
                seen.update(self.offsets(w))
            self._bounds[key] = (min(seen), max(seen))
        return self._bounds[key]


def fires_at_wall(e, zone, w):
    """The fire instants a matching wall time w stands for: [(utc, offset)]."""
    o0, o1 = zone.offsets(w)
    u0, u1 = w - o0, w - o1
    if u0 == u1:
        return [(u0, o0)]
    if u0 < u1:  # a fold: w happens twice
        first = [(u0, zone.offset_at(u0, o0))]
        if e.every_hour:
            return first + [(u1, zone.offset_at(u1, o1))]
        return first
    # a gap: w never shows on a clock; it fires the gap's length later
    return [(u0, zone.offset_at(u0, o1))]


def _day_walls(e, d, descending):
    base = (d.toordinal() - EPOCH_ORD) * 86400
    tods = reversed(e.tods) if descending else e.tods
    for tod in tods:
        yield base + tod


def next_fire(e, zone, t):
    """The least fire instant > t, as (utc, offset), or None."""
    lo, _ = zone.bounds(t)
    start = t + lo + 1  # a wall at or below t+lo maps to an instant <= t
    best = None
    hi_best = None
    if start > MAX_WALL:
        return None
    d = wall_to_naive(max(start, MIN_WALL)).date()
    while True:
        day_start = (d.toordinal() - EPOCH_ORD) * 86400
        if best is not None and day_start - hi_best >= best[0]:
            break
        if day_matches(e, d):
            for w in _day_walls(e, d, False):
                if w < start:
                    continue
                if best is not None and w - hi_best >= best[0]:
                    break
                for u, off in fires_at_wall(e, zone, w):
                    if u > t and (best is None or u < best[0]):
                        best = (u, off)
                        hi_best = zone.bounds(u)[1]
        if d == dt.date.max:
            break
        if d.month not in e.months:
            d = (d.replace(day=28) + dt.timedelta(days=4)).replace(day=1) \
                if d.year < 9999 or d.month < 12 else dt.date.max
            continue
        d += dt.timedelta(days=1)
    return best


def prev_fire(e, zone, t):
    """The greatest fire instant < t, as (utc, offset), or None."""
    _, hi = zone.bounds(t)
    start = t + hi - 1  # a wall at or above t+hi maps to an instant >= t
    best = None
    lo_best = None
    if start < MIN_WALL:
        return None
    d = wall_to_naive(min(start, MAX_WALL)).date()
    while True:
        day_end = (d.toordinal() - EPOCH_ORD) * 86400 + 86399
        if best is not None and day_end - lo_best <= best[0]:
            break
        if day_matches(e, d):
            for w in _day_walls(e, d, True):
                if w > start:
                    continue
                if best is not None and w - lo_best <= best[0]:
                    break
                for u, off in fires_at_wall(e, zone, w):
                    if u < t and (best is None or u > best[0]):
                        best = (u, off)
                        lo_best = zone.bounds(u)[0]
        if d == dt.date.min:
            break
        if d.month not in e.months:
            d = d.replace(day=1) - dt.timedelta(days=1) \
                if d.year > 1 or d.month > 1 else dt.date.min
            continue
        d -= dt.timedelta(days=1)
    return best


# ------------------------------------------------------------- ISO-8601

RE_ISO = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?"
    r"(Z|[+-]\d{2}(?::?\d{2}(?::\d{2})?)?)?$")


def parse_from(text, zone):
    """An ISO-8601 start as (utc seconds, has fraction). Without an offset
    it is a wall time in `zone`: a fold takes the first occurrence, a gap
    the instant the gap's length later (fold=0)."""
    m = RE_ISO.match(text)
    if not m:
        raise ValueError(f"bad date-time {text!r}")
    y, mo, d, h, mi, s, frac, off = m.groups()
    n = dt.datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0),
                    int(s or 0))
    w = naive_to_wall(n)
    fraction = bool(frac) and int(frac) > 0
    if off is None:
        return w - zone.offsets(w)[0], fraction
    if off == "Z":
        return w, fraction
    sign = -1 if off[0] == "-" else 1
    digits = off[1:].replace(":", "")
    secs = int(digits[:2]) * 3600 + (int(digits[2:4]) * 60 if len(digits) > 2 else 0)
    secs += int(digits[4:6]) if len(digits) > 4 else 0
    return w - sign * secs, fraction


def format_instant(u, off):
    w = u + off
    n = wall_to_naive(w) if MIN_WALL <= w <= MAX_WALL else None
    if n is None:
        raise OverflowError("instant outside years 1-9999")
    sign = "-" if off < 0 else "+"
    a = abs(off)
    tail = f"{sign}{a // 3600:02d}:{a // 60 % 60:02d}"
    if a % 60:
        tail += f":{a % 60:02d}"
    return (f"{n.year:04d}-{n.month:02d}-{n.day:02d}T"
            f"{n.hour:02d}:{n.minute:02d}:{n.second:02d}{tail}")


def run(expr_text, tz, start, count, backwards):
    """The lines `cronflow cron next` should print, with `end` appended
    when the walk runs out before `count` lines."""
    e = parse(expr_text)
    zone = Zone(tz)
    t, fraction = parse_from(start, zone)
    if backwards and fraction:
        t += 1  # strictly before t.5 means at or before t
    lines = []
    for _ in range(count):
        f = prev_fire(e, zone, t) if backwards else next_fire(e, zone, t)
        if f is None:
            lines.append("end")
            break
        lines.append(format_instant(*f))
        t = f[0]
    return lines


# --------------------------------------------------------------- case files

def read_cases(path):
    """Yields case blocks from a .cases file as dicts (see the header of any
    tests/cron/*.cases file for the format)."""
    block, first = None, 0
    with open(path, encoding="utf-8") as fh:
        for no, raw in enumerate(fh, 1):
            line = raw.rstrip("\n")
            if line.strip() == "" or line.lstrip().startswith("#"):
                if block is not None and line.strip() == "":
                    yield block
                    block = None
                continue
            if block is None:
                block = {"line": no, "file": path, "tz": "UTC", "prev": False,
                         "seed": None, "expect": [], "error": None}
            key, _, value = line.partition(":")
            key = key.strip()
            if line.strip() == "prev":
                block["prev"] = True
            elif line.strip() == "end":
                block["expect"].append("end")
            elif key == "known" and _:
                block["known"] = value.strip()
            elif key in ("expr", "tz", "from", "seed", "error") and _:
                block[key] = value.strip()
            elif re.match(r"^\d{4}-", line.strip()):
                block["expect"].append(line.strip())
            else:
                raise SystemExit(f"{path}:{no}: cannot read line {line!r}")
    if block is not None:
        yield block


def check_files(paths):
    bad = total = skipped = 0
    for path in paths:
        for b in read_cases(path):
            total += 1
            where = f"{b['file']}:{b['line']}"
            try:
                if b["error"] is not None:
                    try:
                        parse(b["expr"])
                    except CronError as err:
                        # the field the case blames must be the oracle's too
                        m = re.match(r"([a-z-]+) field", b["error"])
                        if m and m.group(1) != err.field:
                            bad += 1
                            print(f"{where}: {b['expr']!r}: the case blames the"
                                  f" {m.group(1)} field, the oracle {err}")
                        continue
                    bad += 1
                    print(f"{where}: oracle accepts {b['expr']!r}, case expects an error")
                    continue
                n = len([x for x in b["expect"] if x != "end"])
                count = n + (1 if "end" in b["expect"] else 0)
                got = run(b["expr"], b["tz"], b["from"], count, b["prev"])
            except Unsupported:
                skipped += 1
                continue
            if got != b["expect"]:
                bad += 1
                print(f"{where}: {b['expr']!r} tz={b['tz']} from={b['from']}"
                      f"{' prev' if b['prev'] else ''}")
                for i in range(max(len(got), len(b["expect"]))):
                    x = b["expect"][i] if i < len(b["expect"]) else "-"
                    y = got[i] if i < len(got) else "-"
                    print(f"    {'  ' if x == y else '!!'} case {x:28} oracle {y}")
    print(f"checked {total} blocks: {total - bad - skipped} agree, {bad} differ,"
          f" {skipped} not modelled (H)")
    return bad == 0


# ------------------------------------------------------------ random runs

RANDOM_ZONES = [
    "America/New_York", "Europe/London", "Australia/Lord_Howe",
    "Australia/Sydney", "America/Santiago", "Asia/Kolkata",
    "America/Havana", "Antarctica/Troll", "Pacific/Chatham", "Europe/Dublin",
    "America/St_Johns", "Africa/Casablanca", "Pacific/Apia", "Asia/Tehran",
    "Europe/Moscow", "America/Sao_Paulo", "Pacific/Kiritimati",
    "America/Adak", "Asia/Gaza",
]


def transitions(zone, year):
    """UTC instants in `year` where the zone's offset changes (to the
    second), found by bisection between hourly samples."""
    def off(u):
        return zone.offset_at(u, None)
    start = (dt.date(year, 1, 1).toordinal() - EPOCH_ORD) * 86400
    end = min(start + 366 * 86400, MAX_WALL - 86400)
    out = []
    u, o = start, off(start)
    step = 6 * 3600
    while u < end:
        v = u + step
        ov = off(v)
        if ov != o:
            a, b = u, v
            while b - a > 1:
                mid = (a + b) // 2
                if off(mid) == o:
                    a = mid
                else:
                    b = mid
            out.append(b)
        u, o = v, ov
    return out


def random_field(rng, f, dst_hours):
    name, lo, hi = FIELDS[f]
    kind = rng.random()
    if f == HOUR and kind < 0.45:
        hs = sorted(set(rng.sample(dst_hours, rng.randint(1, 3))))
        return ",".join(map(str, hs))
    if kind < 0.25:
        return "*"
    if kind < 0.45:
        return f"*/{rng.choice([1, 2, 3, 5, 7, 10, 15, 20, 30])}"
    if kind < 0.6:
        a = rng.randint(lo, hi)
        b = rng.randint(a, hi)
        return f"{a}-{b}" + (f"/{rng.randint(1, 6)}" if rng.random() < 0.4 else "")
    if kind < 0.75:
        return f"{rng.randint(lo, hi)}/{rng.randint(1, 25)}"
    vals = sorted(set(rng.randint(lo, hi) for _ in range(rng.randint(1, 4))))
    return ",".join(map(str, vals))


def random_expr(rng):
    """A random valid-looking expression, biased towards the hours where
    clocks change (0-4, 22-23) and towards the syntax the day rules use."""
    if rng.random() < 0.04:
        return rng.choice(["@daily", "@hourly", "@weekly", "@monthly",
                           "@weekdays", "@weekends", "@midnight"])
    dst_hours = [0, 1, 2, 3, 23, 22, 4]
    sec = ""
    if rng.random() < 0.2:
        sec = rng.choice(["0", "30", "0,30", "*/20", "15-16", "59", "*/7"]) + " "
    minute = random_field(rng, MIN, dst_hours)
    hour = random_field(rng, HOUR, dst_hours)
    r = rng.random()
    if r < 0.5:
        dom, dow = rng.choice(["*", "*", "?"]), rng.choice(["*", "*", "?"])
    elif r < 0.67:
        dom, dow = rng.choice(["L", "1W", "15W", "LW", "L-2", "L-3W", "1-7",
                               "*/2", "1,15", "31W", "30", "L-30", "29",
                               "31", "2W,L"]), rng.choice(["*", "?"])
    elif r < 0.84:
        dow = rng.choice(["0", "1-5", "6,0", "0L", "6L", "0#1", "6#2", "SUN",
                          "1/2", "7", "SAT-SUN", "mon-fri", "5#5", "0#L",
                          "*/2", "FRIL", "2#1,4#3"])
        dom = rng.choice(["*", "?"])
    else:
        dom, dow = rng.choice(["1", "L", "13", "2W", "*/3", "29"]), rng.choice(
            ["0", "5", "6#1", "0L", "MON", "1-2"])
    month = "*" if rng.random() < 0.8 else rng.choice(
        ["3,4,9,10,11", "4", "10", "3-11/2", "MAR,OCT", "SEP-NOV", "2",
         "*/6", "?"])
    return f"{sec}{minute} {hour} {dom} {month} {dow}"


def _fmt_utc(u):
    return format_instant(u, 0).replace("+00:00", "Z")


def _binary(binary, expr, tz, start, count, backwards):
    cmd = [binary, "cron", "next", expr, "--tz", tz, "--from", start,
           "--count", str(count)]
    if backwards:
        cmd.append("--prev")
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    lines = p.stdout.split()
    if p.returncode == 1 and "never" in p.stderr:
        lines.append("end")
    elif p.returncode != 0:
        lines.append(f"exit {p.returncode}: {p.stderr.strip()[:300]}")
    return lines


def _to_utc(line):
    return parse_from(line, None)[0]


def random_case(args):
    """One (expression, zone, start) triple: our binary against the oracle
    both ways, then the round trips on the binary alone. Returns a list of
    (passed?, description) pairs."""
    binary, expr, tz, start_u, k, at_fire = args
    results = []
    if at_fire:
        # start exactly at a fire instant: both walks must exclude it
        f = next_fire(parse(expr), Zone(tz), start_u)
        if f is not None:
            start_u = f[0]
    start = _fmt_utc(start_u)
    for backwards in (False, True):
        want = run(expr, tz, start, k, backwards)
        got = _binary(binary, expr, tz, start, k, backwards)
        ok = want == got
        desc = (f"{'prev' if backwards else 'next'} {expr!r} --tz {tz} "
                f"--from {start} --count {k}")
        if not ok:
            desc += "\n" + "\n".join(
                f"      {'  ' if a == b else '!!'} oracle {a:28} binary {b}"
                for a, b in zip(want + ["-"] * (len(got) - len(want)),
                                got + ["-"] * (len(want) - len(got))))
        results.append((ok, desc))
        if backwards:
            prevs = got
        else:
            nexts = got
    # Round trips on the binary: walking back from the k-th next fire must
    # retrace the fires, then land at the last fire at or before the start;
    # walking forward from the k-th prev fire likewise.
    for walk_back, seq, other in ((True, nexts, prevs), (False, prevs, nexts)):
        fires = [x for x in seq if x[:1].isdigit()]
        if len(fires) < 2:
            continue
        # (as UTC: the binary does not read offsets with seconds, "-04:56:02")
        anchor = _fmt_utc(_to_utc(fires[-1]))
        got = _binary(binary, expr, tz, anchor, len(fires), walk_back)
        want_head = list(reversed(fires[:-1]))
        head, tail = got[:len(want_head)], got[len(want_head):]
        ok = head == want_head and len(tail) >= 1
        if ok:
            # the fire just past the walk: the start itself if it is a fire,
            # otherwise the first fire on the other side of it.
            t_last = tail[0]
            opposite = [x for x in other if x[:1].isdigit()]
            candidates = {start_u}
            if opposite:
                candidates.add(_to_utc(opposite[0]))
            if t_last == "end":
                ok = not opposite
            else:
                ok = t_last[:1].isdigit() and _to_utc(t_last) in candidates
        desc = (f"round trip {'prev(next)' if walk_back else 'next(prev)'} {expr!r} "
                f"--tz {tz} from {anchor} count {len(fires)}: got {got}, "
                f"want {want_head} then the start or {other[:1]}")
        results.append((ok, desc))
    return results


def random_run(binary, seed, cases, jobs, budget):
    rng = random.Random(seed)
    zones = {name: Zone(name) for name in RANDOM_ZONES}
    trans_cache = {}
    work = []
    for _ in range(cases):
        tz = rng.choice(RANDOM_ZONES)
        year = rng.choice([1883, 1918, 1942, 1945, 1968, 1981, 1995, 2005,
                           2011, 2014, 2016, 2020, 2024, 2024, 2025, 2025,
                           2030, 2037, 2038, 2061, 2087, 2099, 2400, 5000,
                           9999])
        if tz == "Pacific/Apia" and rng.random() < 0.5:
            year = 2011
        key = (tz, year)
        if key not in trans_cache:
            trans_cache[key] = transitions(zones[tz], year)
        ts = trans_cache[key]
        if ts and rng.random() < 0.9:
            base = rng.choice(ts)
            spread = rng.choice([0, 120, 3600, 3 * 3600, 86400, 3 * 86400])
            start_u = base + rng.randint(-spread, spread)
        else:
            start_u = (dt.date(year, rng.randint(1, 12), rng.randint(1, 28))
                       .toordinal() - EPOCH_ORD) * 86400
            start_u += rng.randint(0, 86399)
        while True:
            expr = random_expr(rng)
            try:
                parse(expr)
                break
            except CronError:
                continue
        work.append((binary, expr, tz, start_u, rng.randint(3, 8),
                     rng.random() < 0.15))
    passed = failed = done = 0
    began = time.time()
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        # In batches, so that a slow machine stops at the time budget after
        # a deterministic prefix of the work instead of running on.
        for first in range(0, len(work), 40):
            if time.time() - began > budget:
                print(f"time budget of {budget:.0f}s reached: ran {done} of "
                      f"{len(work)} triples")
                break
            batch = work[first:first + 40]
            for results in pool.map(random_case, batch, chunksize=2):
                for ok, desc in results:
                    if ok:
                        passed += 1
                    else:
                        failed += 1
                        print("FAIL " + desc)
            done += len(batch)
    return passed, failed, done


# -------------------------------------------------------------------- main

def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    n = sub.add_parser("next")
    n.add_argument("expr")
    n.add_argument("--tz", default="UTC")
    n.add_argument("--from", dest="start", required=True)
    n.add_argument("--count", type=int, default=1)
    n.add_argument("--prev", action="store_true")
    c = sub.add_parser("check")
    c.add_argument("files", nargs="+")
    r = sub.add_parser("random")
    r.add_argument("--binary", required=True)
    r.add_argument("--seed", type=int, default=1)
    r.add_argument("--cases", type=int, default=300)
    r.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    r.add_argument("--budget", type=float, default=100.0,
                   help="seconds after which no new batch starts")
    a = ap.parse_args(argv)
    if a.cmd == "next":
        try:
            lines = run(a.expr, a.tz, a.start, a.count, a.prev)
        except CronError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        print("\n".join(lines))
        return 1 if lines and lines[-1] == "end" else 0
    if a.cmd == "check":
        return 0 if check_files(a.files) else 1
    began = time.time()
    passed, failed, done = random_run(a.binary, a.seed, a.cases, a.jobs,
                                      a.budget)
    print(f"seed {a.seed}: {done} random (expression, zone, start) triples, "
          f"{time.time() - began:.1f}s")
    print(f"SUMMARY: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
