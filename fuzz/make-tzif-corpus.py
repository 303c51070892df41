#!/usr/bin/env python3
"""Writes the seed corpus of the TZif fuzz target, fuzz/corpus/tzif/.

Every file is built here from first principles (RFC 8536), not copied from
a tzdata installation: small zones that each show one thing a reader must
get right (no transitions, 32-bit data, negative DST, half-hour DST, a
skipped day, POSIX rules with extended times, leap-second records...), then
truncated and mutated copies of them that a reader must reject without
reading out of bounds. The output is deterministic, so re-running the script
changes nothing unless the script changed.

    python3 fuzz/make-tzif-corpus.py [OUTDIR]    # default fuzz/corpus/tzif

Files are named by the SHA-1 of their contents, like the inputs libFuzzer
adds, so that seeds and found inputs live side by side without clashes: the
script only (re)writes its own seeds and never deletes a file. Inputs the
fuzzer found are added with `build/fuzz/fuzz_tzif -merge=1 fuzz/corpus/tzif
build/fuzz/corpus/tzif`.
"""
import calendar
import hashlib
import os
import random
import struct
import sys


def nth_weekday(year, month, week, weekday):
    """Day of month of POSIX Mm.w.d: week 1-5 (5 = last), weekday 0 = Sunday."""
    first_wd = (calendar.weekday(year, month, 1) + 1) % 7  # Sunday = 0
    day = 1 + (weekday - first_wd) % 7 + 7 * (week - 1)
    dim = calendar.monthrange(year, month)[1]
    while day > dim:
        day -= 7
    return day


def utc(year, month, day, seconds=0):
    return calendar.timegm((year, month, day, 0, 0, 0)) + seconds


def rule_transitions(years, std, dst, start, end):
    """Transitions of a Mm.w.d rule pair. start/end: (month, week, weekday,
    local seconds). Offsets east of UTC. Returns [(instant, is_dst)]."""
    out = []
    for y in years:
        m, w, d, t = start
        out.append((utc(y, m, nth_weekday(y, m, w, d), t) - std, True))
        m, w, d, t = end
        out.append((utc(y, m, nth_weekday(y, m, w, d), t) - dst, False))
    return sorted(out)


class Zone:
    """A zone to serialise: types are (offset, is_dst, abbreviation)."""

    def __init__(self, types, transitions=(), footer=None, leaps=(),
                 indicators=False):
        self.types = list(types)
        self.transitions = list(transitions)  # (instant, type index)
        self.footer = footer
        self.leaps = list(leaps)  # (instant, correction)
        self.indicators = indicators

    def _chars(self):
        chars, index = b"", {}
        for _, _, abbr in self.types:
            if abbr not in index:
                index[abbr] = len(chars)
                chars += abbr.encode() + b"\0"
        return chars, index

    def _block(self, time_size, transitions, leaps):
        chars, index = self._chars()
        fmt = ">q" if time_size == 8 else ">l"
        n = len(self.types) if self.indicators else 0
        counts = struct.pack(">6L", n, n, len(leaps), len(transitions),
                             len(self.types), len(chars))
        body = b"".join(struct.pack(fmt, t) for t, _ in transitions)
        body += bytes(ty for _, ty in transitions)
        for off, dst, abbr in self.types:
            body += struct.pack(">lBB", off, int(dst), index[abbr])
        body += chars
        for t, corr in leaps:
            body += struct.pack(fmt + "l", t, corr)
        body += bytes([1 if i % 2 else 0 for i in range(n)])  # std/wall
        body += bytes([0] * n)  # UT/local
        return counts, body

    def serialise(self, version=b"2", v1="same"):
        """version: b"\\0" (v1 only), b"2", b"3", b"4". v1: for v2+ files,
        "same" repeats the data in 32 bits (what zic writes), "empty" leaves
        the v1 block without transitions (zic -b slim)."""
        def header(counts):
            return b"TZif" + version + bytes(15) + counts

        in32 = [(t, ty) for t, ty in self.transitions if -2**31 <= t < 2**31]
        leaps32 = [(t, c) for t, c in self.leaps if -2**31 <= t < 2**31]
        if version == b"\0":
            counts, body = self._block(4, in32, leaps32)
            return header(counts) + body
        if v1 == "empty":
            saved, self.types = self.types, self.types[:1]
            counts1, body1 = self._block(4, [], [])
            self.types = saved
        else:
            counts1, body1 = self._block(4, in32, leaps32)
        counts2, body2 = self._block(8, self.transitions, self.leaps)
        footer = b"\n" + (self.footer or "").encode() + b"\n"
        return header(counts1) + body1 + header(counts2) + body2 + footer


def seeds():
    """(name, bytes) of the well-formed seed zones."""
    z = {}
    z["utc"] = Zone([(0, False, "UTC")], footer="UTC0")
    z["fixed-kolkata"] = Zone(
        [(21200, False, "LMT"), (19800, False, "IST")],
        [(utc(1941, 10, 1), 1)], footer="IST-5:30")

    # New York-like: LMT with a seconds part, then EST/EDT by the US rule.
    ny_types = [(-17762, False, "LMT"), (-18000, False, "EST"),
                (-14400, True, "EDT")]
    ny = [(utc(1883, 11, 18, 17 * 3600), 1)]
    ny += [(t, 2 if d else 1) for t, d in rule_transitions(
        range(2007, 2013), -18000, -14400, (3, 2, 0, 7200), (11, 1, 0, 7200))]
    z["new-york"] = Zone(ny_types, ny, footer="EST5EDT,M3.2.0,M11.1.0")
    z["new-york-slim"] = ("slim", z["new-york"])
    z["us-rule-footer-only"] = Zone([(-18000, False, "EST"),
                                     (-14400, True, "EDT")],
                                    footer="EST5EDT,M3.2.0,M11.1.0")
    z["dst-without-rule"] = Zone([(-18000, False, "EST")], footer="EST5EDT")

    # Lord Howe: a 30-minute DST in the southern hemisphere.
    lh_types = [(37800, False, "+1030"), (39600, True, "+11")]
    lh = [(t, 1 if d else 0) for t, d in rule_transitions(
        range(2015, 2019), 37800, 39600, (10, 1, 0, 7200), (4, 1, 0, 7200))]
    z["lord-howe"] = Zone(lh_types, lh,
                          footer="<+1030>-10:30<+11>-11,M10.1.0,M4.1.0")

    # Dublin: winter time is the "DST" of a negative save.
    db_types = [(3600, False, "IST"), (0, True, "GMT")]
    db = [(t, 0 if d else 1) for t, d in rule_transitions(
        range(2018, 2021), 0, 3600, (3, 5, 0, 3600), (10, 5, 0, 7200))]
    z["dublin-negative-dst"] = Zone(db_types, db,
                                    footer="IST-1GMT0,M10.5.0,M3.5.0/1")

    # Apia: one day skipped at the end of 2011 (-10 to +14 across the
    # date line), then DST rules and none.
    z["apia-skipped-day"] = Zone(
        [(-36000, False, "-10"), (-39600, False, "-11"), (50400, True, "+14"),
         (46800, False, "+13")],
        [(utc(2011, 4, 2, 4 * 3600) - 0, 1), (utc(2011, 9, 24, 3 * 3600), 0),
         (utc(2011, 12, 30, 10 * 3600), 2), (utc(2012, 4, 1, 4 * 3600) - 50400, 3)],
        footer="<+13>-13")

    # Troll: a two-hour DST jump, and times of day other than 02:00.
    z["troll-two-hours"] = Zone(
        [(0, False, "-00"), (0, False, "+00"), (7200, True, "+02")],
        [(utc(2005, 2, 12), 1)], footer="<+00>0<+02>-2,M3.5.0/1,M10.5.0/3")

    # Extended rule times (RFC 8536 3.3.1): negative, and past 24 hours.
    z["godthab-negative-time"] = Zone(
        [(-7200, False, "-02"), (-3600, True, "-01")],
        footer="<-02>2<-01>,M3.5.0/-1,M10.5.0/0")
    z["permanent-dst-trick"] = Zone(
        [(-18000, False, "EST"), (-14400, True, "EDT")],
        footer="EST5EDT,0/0,J365/25")
    z["rule-time-167h"] = Zone(
        [(0, False, "AAA"), (3600, True, "BBB")],
        footer="AAA0BBB,M3.1.0/167,M10.5.6/-167")

    # Julian days, both kinds, and an explicit DST offset.
    z["julian-j"] = Zone([(-10800, False, "XXX"), (-7200, True, "YYY")],
                         footer="XXX3YYY,J60/2,J300/2")
    z["julian-zero-based"] = Zone([(-10800, False, "XXX"), (-7200, True, "YYY")],
                                  footer="XXX3YYY,59/2,299/2")
    z["explicit-dst-offset"] = Zone([(3600, False, "AAA"), (10800, True, "BBB")],
                                    footer="AAA-1BBB-3,M3.5.0,M10.5.0")
    z["southern-midnight-rules"] = Zone(
        [(-10800, False, "-03"), (-7200, True, "-02")],
        [(utc(2018, 11, 4, 3 * 3600), 1), (utc(2019, 2, 17, 2 * 3600), 0)],
        footer="<-03>3<-02>,M10.3.0/0,M2.3.0/0")

    # Casablanca-like: DST switched off and on around Ramadan, many
    # transitions, a footer without DST.
    cas = []
    t = utc(2019, 5, 5, 2 * 3600)
    for i in range(24):
        cas.append((t, (i + 1) % 2))
        t += (35 if i % 2 == 0 else 330) * 86400
    z["casablanca-many"] = Zone([(3600, False, "+01"), (0, True, "+00")], cas,
                                footer="<+01>-1")

    # The shapes of the file itself.
    z["no-footer-rule"] = Zone([(7200, False, "EET")], footer="")
    z["indicators"] = Zone(ny_types, ny, footer="EST5EDT,M3.2.0,M11.1.0",
                           indicators=True)
    z["leap-seconds"] = Zone([(0, False, "UTC")], footer="UTC0",
                             leaps=[(utc(1972, 7, 1) - 1, 1),
                                    (utc(1973, 1, 1) - 1, 2),
                                    (utc(2017, 1, 1) - 1, 27)])
    z["same-offset-new-abbr"] = Zone(
        [(3600, False, "CET"), (3600, False, "MET"), (7200, True, "CEST")],
        [(utc(1977, 1, 1), 1), (utc(1978, 1, 1), 0), (utc(1978, 4, 2), 2),
         (utc(1978, 10, 1), 0)], footer="CET-1CEST,M3.5.0,M10.5.0/3")
    z["big-bang-and-far-future"] = Zone(
        [(0, False, "AAA"), (3600, False, "BBB")],
        [(-(2**59), 1), (-(2**31), 0), (2**31, 1), (2**59, 0)], footer="AAA0")
    z["extreme-offsets"] = Zone(
        [(-89999, False, "MIN"), (93599, False, "MAX")],
        [(0, 1), (86400, 0)], footer="<-2459>24:59:59")
    z["quoted-abbr"] = Zone([(-9000, False, "-0230")],
                            footer="<-0230>2:30<-0130>,M3.2.0,M11.1.0")

    out = []
    for name, zone in z.items():
        if isinstance(zone, tuple):
            out.append((name, zone[1].serialise(b"2", v1="empty")))
            continue
        out.append((name, zone.serialise(b"2")))
    # Every version byte, on zones that fit each one.
    out.append(("v1-only", z["new-york"].serialise(b"\0")))
    out.append(("v1-only-big-bang", z["big-bang-and-far-future"].serialise(b"\0")))
    out.append(("v3", z["permanent-dst-trick"].serialise(b"3")))
    out.append(("v4", z["leap-seconds"].serialise(b"4")))
    return out


# Seeds that get every mutation; the others get a few truncations and
# random byte changes (their damage would retrace the same checks).
FULLY_MUTATED = {"new-york", "lord-howe", "v1-only"}


def mutants(name, data, rng):
    """Truncations and single-field damage a reader must survive."""
    out = []
    for cut in sorted({4, 44, len(data) // 2, len(data) - 1}):
        if 0 < cut < len(data):
            out.append(data[:cut])
    if name not in FULLY_MUTATED:
        for _ in range(3):
            buf = bytearray(data)
            buf[rng.randrange(44, len(buf))] = rng.randrange(256)
            out.append(bytes(buf))
        return out
    for cut in (20, 45, len(data) - 2):
        out.append(data[:cut])
    # Header fields of the first (and, in v2+, the second) header.
    second = data.find(b"TZif", 4)
    for base in [0] + ([second] if second > 0 else []):
        for field in range(6):
            at = base + 20 + 4 * field
            for value in (0, 1, 0xFFFFFFFF, 0x7FFFFFFF, 257):
                out.append(data[:at] + struct.pack(">L", value) + data[at + 4:])
    out.append(data[:4] + b"9" + data[5:])  # unknown version
    out.append(b"TZiF" + data[4:])  # bad magic
    if data.endswith(b"\n"):
        out.append(data[:-1])  # footer without its closing newline
        out.append(data + b"junk")
        start = data.rfind(b"\n", 0, len(data) - 1)
        for footer in (b"", b"A", b"ABC", b"ABC-99", b"EST5EDT,M13.1.0,M1.1.0",
                       b"EST5EDT,M3.6.0,M11.1.0", b"EST5EDT,M3.2.7,M11.1.0",
                       b"EST5EDT,J0,J366", b"EST5EDT,M3.2.0/168,M11.1.0",
                       b"<AB>5", b"<ABC", b"EST5EDT,M3.2.0", b"X" * 200,
                       b"EST5\0EDT", b"<+25>-25", b"EST24:59:59EDT",
                       b"AAA0BBB,0/0,365/0", b"AAA0BBB,M2.1.0/-167,M11.5.6/167"):
            out.append(data[:start + 1] + footer + b"\n")
    for _ in range(12):
        buf = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(44, len(buf)) if len(buf) > 44 else 0
            buf[i] = rng.randrange(256)
        out.append(bytes(buf))
    return out


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "corpus", "tzif")
    os.makedirs(outdir, exist_ok=True)
    rng = random.Random(8536)
    files = {}
    for name, data in seeds():
        files[hashlib.sha1(data).hexdigest()] = data
        for m in mutants(name, data, rng):
            files[hashlib.sha1(m).hexdigest()] = m
    for digest, data in sorted(files.items()):
        with open(os.path.join(outdir, digest), "wb") as f:
            f.write(data)
    print(f"{len(files)} files in {outdir}")


if __name__ == "__main__":
    main()
