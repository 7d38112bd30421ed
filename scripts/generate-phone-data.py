#!/usr/bin/env python3
"""Generate the phone and time-zone tables that the `flows` crate embeds.

Writes, under flows/data/ (all lookups are by longest prefix of the E.164
digits, without the '+'):

  phone_zones.tsv          <prefix>\t<IANA zone>[,<zone>...]  (several = ambiguous)
  phone_regions.tsv        <prefix>\t<ISO 3166-1 alpha-2 region>
  country_zones.tsv        <region>\t<IANA zone>, only for countries whose zones
                           all keep the same UTC offsets from 2020 through 2035
  NOTICE-phonenumbers.txt  attribution for the two phone tables

Sources:
  * PyPI `phonenumbers` (David Drysdale's Python port of Google's libphonenumber,
    Apache-2.0): its prefix -> time zones map (phonenumbers.tzdata.TIMEZONE_DATA)
    and its per-region numbering metadata.
  * The IANA tz database as installed on the system (/usr/share/zoneinfo: zone.tab
    and the compiled zones read through Python's zoneinfo; public domain).
    Keep it at the release chrono-tz bundles (2025b for chrono-tz 0.10.4).

Changes made to phonenumbers' zones (printed when run): a zone that is not one of
the zones zone.tab lists for the prefix's country is replaced by the country's
zone with the same offsets (e.g. Asia/Calcutta -> Asia/Kolkata, Europe/Bucharest
-> Europe/Tallinn for +372); if none has the same offsets, by the country's zone
when the country has one zone in practice (e.g. Europe/Paris -> Africa/Algiers
for +213), else by all of the country's zones, which makes the prefix ambiguous
(e.g. Europe/Bucharest for +740, Kaliningrad). Several zones with the same
offsets are collapsed into one (e.g. +44: Europe/London).

phone_zones follows phonenumbers.timezone.time_zones_for_number, not the raw
prefix map alone: the library gives the raw map's zones only to fixed-line numbers
(and to mobiles in the countries of _GEO_MOBILE_COUNTRIES), and every other number
(mobile, toll-free, ...) its calling code's zones, which this script narrows to the
zones of the number's region (a +1 684 mobile is American Samoa's single zone; a
+61 4 mobile keeps every Australian zone). Each calling code whose numbers do not
all get zones with the same offsets is walked digit by digit over phonenumbers'
own numbering patterns: a prefix gets one zone only when every valid number under
it does, else all of them (ambiguous), so +61 4 and +64 2 are ambiguous while
+61 2 stays Australia/Sydney. The calling codes whose mobiles the library treats
as geographic (52, 54, 55, 62, 86) keep the raw map: walking their numbering plans
takes too long, and only their service numbers (toll-free ...) would change.

phone_regions: a calling code used by one region is written alone (372 EE). A
shared one (1, 7, 44, 61, ...) is split into the shortest prefixes under which
every number phonenumbers considers valid gets the same region from
phonenumbers.region_code_for_number, and some of them are fixed-line or mobile
numbers; other prefixes (toll-free and other service ranges) are left out, so
the table never guesses. For +1 only 10-digit national numbers count (E.164).

Refresh (from the repository root; network access to PyPI needed):
    python3 -m venv /tmp/cairn-data
    /tmp/cairn-data/bin/pip install phonenumbers==9.0.43
    /tmp/cairn-data/bin/python scripts/generate-phone-data.py
Last generated with phonenumbers 9.0.43, Python 3.11 and the system's tzdata
2025b. Bump the pinned version to take newer data, rerun, review the diff.
"""

import re
import time
import zoneinfo
from collections import defaultdict
from datetime import datetime, timezone
from functools import lru_cache
from importlib import metadata
from pathlib import Path

try:
    from re import _constants as C, _parser as sre_parse  # Python 3.11+
except ImportError:
    import sre_constants as C
    import sre_parse

import phonenumbers
from phonenumbers import PhoneMetadata
from phonenumbers.tzdata import TIMEZONE_DATA

OUT = Path(__file__).resolve().parent.parent / "flows" / "data"
ZONE_TAB = Path("/usr/share/zoneinfo/zone.tab")  # else from PyPI tzdata, see read_zone_tab
NANP_LENGTH = 10  # +1 numbers in E.164 always have 10 national digits
DIGITS = "0123456789"
TYPES = ("premium_rate", "toll_free", "shared_cost", "voip", "personal_number",
         "pager", "uan", "voicemail", "fixed_line", "mobile")  # phonenumbers' order


# --- time zones ----------------------------------------------------------------

_START = int(datetime(2020, 1, 1, tzinfo=timezone.utc).timestamp())
_END = int(datetime(2036, 1, 1, tzinfo=timezone.utc).timestamp())
_signatures = {}


def signature(zone):
    """The zone's UTC offset at every hour from 2020 through 2035."""
    if zone not in _signatures:
        tz = zoneinfo.ZoneInfo(zone)
        _signatures[zone] = tuple(tz.utcoffset(datetime.fromtimestamp(t, tz))
                                  for t in range(_START, _END, 3600))
    return _signatures[zone]


@lru_cache(maxsize=None)
def _same_time(zones):
    return len({signature(z) for z in zones}) == 1


def same_time(zones):
    return _same_time(frozenset(zones))


def read_zone_tab():
    """Country -> its zones, in zone.tab order (the first is the main one)."""
    if ZONE_TAB.exists():
        text = ZONE_TAB.read_text()
    else:  # no system tz database: zoneinfo falls back on the tzdata package too
        from importlib.resources import files
        text = (files("tzdata") / "zoneinfo" / "zone.tab").read_text()
    zones = defaultdict(list)
    for line in text.splitlines():
        if line and not line.startswith("#"):
            fields = line.split("\t")
            zones[fields[0]].append(fields[2])
    return zones


# --- regions ---------------------------------------------------------------------
# A shared calling code is split into prefixes by running phonenumbers' own rule
# (phonenumberutil._region_code_for_number_from_list: the first region, in the
# calling code's order, whose leading_digits match or, without leading_digits,
# for which the number is valid) over every number at once: each metadata pattern
# becomes an automaton stepped digit by digit, so the walk below sees exactly
# which regions the valid numbers under a prefix get.

class Nfa:
    """A phonenumbers pattern (digits only) as an automaton stepped digit by digit."""

    def __init__(self, pattern):
        self.eps, self.moves, self.nodes, self.cache = defaultdict(list), defaultdict(list), 0, {}
        start = self._node()
        self.accept = self._seq(sre_parse.parse(pattern), start)
        self.start = self._closure({start})

    def _node(self):
        self.nodes += 1
        return self.nodes

    def _seq(self, items, cur):
        for op, arg in items:
            cur = self._item(op, arg, cur)
        return cur

    def _item(self, op, arg, cur):
        if op is C.LITERAL or op is C.IN:
            nxt = self._node()
            self.moves[cur].append((chr(arg) if op is C.LITERAL else self._chars(arg), nxt))
            return nxt
        if op is C.SUBPATTERN:
            return self._seq(arg[-1], cur)
        if op is C.BRANCH:
            end = self._node()
            for alternative in arg[1]:
                self.eps[self._seq(alternative, cur)].append(end)
            return end
        if op is C.MAX_REPEAT or op is C.MIN_REPEAT:
            low, high, sub = arg
            for _ in range(low):
                cur = self._seq(sub, cur)
            if high is C.MAXREPEAT:
                self.eps[self._seq(sub, cur)].append(cur)
                return cur
            end = self._node()
            self.eps[cur].append(end)
            for _ in range(high - low):
                cur = self._seq(sub, cur)
                self.eps[cur].append(end)
            return end
        raise ValueError(f"unsupported pattern element {op}")

    @staticmethod
    def _chars(items):
        chars, negate = set(), False
        for op, arg in items:
            if op is C.LITERAL:
                chars.add(chr(arg))
            elif op is C.RANGE:
                chars |= {chr(c) for c in range(arg[0], arg[1] + 1)}
            elif op is C.CATEGORY and arg is C.CATEGORY_DIGIT:
                chars |= set(DIGITS)
            elif op is C.NEGATE:
                negate = True
            else:
                raise ValueError(f"unsupported class element {op}")
        return "".join(sorted(set(DIGITS) - chars if negate else chars & set(DIGITS)))

    def _closure(self, nodes):
        todo, seen = list(nodes), set(nodes)
        while todo:
            for nxt in self.eps[todo.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return frozenset(seen)

    def step(self, states, digit):
        if (states, digit) not in self.cache:
            self.cache[states, digit] = self._closure(
                {nxt for s in states for chars, nxt in self.moves[s] if digit in chars})
        return self.cache[states, digit]


class Region:
    """One region's metadata; a state is (pattern states, leading states, leading matched)."""

    def __init__(self, code):
        meta = PhoneMetadata.metadata_for_region(code)
        self.code = code
        self.descs = [(name, Nfa(desc.national_number_pattern), desc.possible_length)
                      for name, desc in [("general", meta.general_desc)]
                      + [(t, getattr(meta, t)) for t in TYPES]
                      if desc is not None and desc.national_number_pattern]
        self.leading = Nfa(meta.leading_digits) if meta.leading_digits else None

    def start(self):
        return (tuple(nfa.start for _, nfa, _ in self.descs),
                self.leading.start if self.leading else None, False)

    def step(self, state, digit):
        states, leading, matched = state
        states = tuple(nfa.step(s, digit) for (_, nfa, _), s in zip(self.descs, states))
        if self.leading:
            leading = self.leading.step(leading, digit)
            matched = matched or self.leading.accept in leading
        return states, leading, matched

    def kind(self, state, length):
        """The type phonenumbers gives a complete national number, None if invalid."""
        (_, general, lengths), *types = self.descs
        if general.accept not in state[0][0] or (lengths and length not in lengths):
            return None
        for (name, nfa, lengths), s in zip(types, state[0][1:]):
            if nfa.accept in s and (not lengths or length in lengths):
                return name
        return None


def shared_code_prefixes(code, codes):
    """Prefixes under which every valid number gets one region, and some valid
    fixed-line or mobile number exists (service-only ranges are left out)."""
    regions = [Region(r) for r in codes]
    lengths = {NANP_LENGTH} if code == 1 else set().union(*(r.descs[0][2] for r in regions))

    def step(state, digit):
        return tuple(r.step(s, digit) for r, s in zip(regions, state))

    @lru_cache(maxsize=None)
    def below(state, length):
        """(regions of valid fixed/mobile numbers, regions of all valid numbers)."""
        personal, every = set(), set()
        if length in lengths:
            for region, s in zip(regions, state):
                kind = region.kind(s, length)
                if (not s[2]) if region.leading else not kind:
                    continue
                if kind:  # the first region that claims the number gets it
                    every.add(region.code)
                    if kind in ("fixed_line", "mobile"):
                        personal.add(region.code)
                break
        if length < max(lengths) and any(s[0][0] for s in state):
            for digit in DIGITS:
                p, e = below(step(state, digit), length + 1)
                personal |= p
                every |= e
        return frozenset(personal), frozenset(every)

    out = {}

    def walk(digits, state):
        personal, every = below(state, len(digits))
        if len(personal) == 1 and personal == every and digits:  # no bare shared code
            out[f"{code}{digits}"] = next(iter(personal))
        elif personal:
            for digit in DIGITS:
                walk(digits + digit, step(state, digit))
    walk("", tuple(r.start() for r in regions))
    return out


def region_table():
    out = {}
    for code, regions in sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE.items()):
        if regions == ("001",):  # non-geographic (global services)
            continue
        if len(regions) == 1:
            out[str(code)] = regions[0]
        else:
            out.update(shared_code_prefixes(code, regions))
    return out


def longest(table, digits):
    for end in range(len(digits), 0, -1):
        if digits[:end] in table:
            return digits[:end], table[digits[:end]]
    return None, None


# --- zones by prefix ---------------------------------------------------------------

def zone_table(regions, country_zones, single_zone):
    valid = zoneinfo.available_timezones()
    out, notes = {}, defaultdict(list)
    for prefix, zones in sorted(TIMEZONE_DATA.items()):
        _, country = longest(regions, prefix)
        below = {r for p, r in regions.items() if p.startswith(prefix)}
        if country is None and len(below) == 1:  # e.g. 212: 2125..2128 are all MA
            country = below.pop()
        known = country_zones.get(country, [])
        fixed = []
        for zone in zones:
            if zone == "Etc/Unknown":
                continue
            if zone not in valid:
                notes[f"dropped, unknown to zoneinfo: {zone}"].append(prefix)
                continue
            if known and zone not in known:
                same = [z for z in known if signature(z) == signature(zone)]
                if same:
                    notes[f"{country}: {zone} -> {same[0]} (same offsets)"].append(prefix)
                    zone = same[0]
                elif country in single_zone:
                    notes[f"{country}: {zone} -> {single_zone[country]} (offsets differ)"].append(prefix)
                    zone = single_zone[country]
                else:  # which of the country's zones is unknown: ambiguous
                    notes[f"{country}: {zone} -> all zones of {country} (offsets differ)"].append(prefix)
                    fixed += [z for z in known if z not in fixed]
                    continue
            if zone not in fixed:
                fixed.append(zone)
        if len(fixed) > 1 and same_time(fixed):
            main = phonenumbers.region_code_for_country_code(int(calling_code(prefix)))
            preferred = [z for z in country_zones.get(main, []) if z in fixed]
            fixed = [(preferred or fixed)[0]]
            notes["several zones with the same offsets collapsed into one"].append(prefix)
        if fixed:
            out[prefix] = fixed
        else:
            notes["prefix dropped: no zone left"].append(prefix)
    return out, notes


def number_zone_table(geo, country_zones, single_zone):
    """Prefix -> zones as phonenumbers.timezone.time_zones_for_number answers for the
    valid numbers under the prefix, refined by the number's region.

    The library gives a fixed-line number (and a mobile one in the few countries whose
    mobile numbers are geographic: _GEO_MOBILE_COUNTRIES) the zones of its longest prefix
    in `geo`; any other number (mobile, toll-free, VoIP ...) gets its calling code's zones,
    narrowed here to the zones of the region the library gives the number (an American
    Samoa mobile is Pacific/Pago_Pago, not every NANP zone; an Australian mobile stays
    every Australian zone). A prefix is written with a single zone only when every valid
    number under it gets that zone (or zones with the same offsets); where they differ, it
    is written with all of them (ambiguous) and its digits are walked further, so that the
    longest prefix of any number gives its zone or says it is ambiguous."""
    geo_mobile = phonenumbers.phonenumberutil._GEO_MOBILE_COUNTRIES
    out = {}
    for code, region_codes in sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE.items()):
        if region_codes == ("001",):
            continue
        cc = str(code)
        keys = {k for k in geo if k.startswith(cc) and calling_code(k) == cc}
        inner = {k[:n] for k in keys for n in range(len(cc), len(k))}  # proper prefixes
        candidates = set().union(*(geo[k] for k in keys), *(
            single_zone.get(r) and [single_zone[r]] or country_zones.get(r, []) for r in region_codes))
        if candidates and same_time(candidates):  # every number gets the same time: no walk
            out.update({k: geo[k] for k in keys})
            out.setdefault(cc, [collapse(candidates, code)])
            continue
        if code in geo_mobile:  # mobiles are geographic: the raw map (walking them is too slow)
            out.update({k: geo[k] for k in keys})
            continue
        started = time.monotonic()
        regions = [Region(r) for r in region_codes]
        lengths = ({NANP_LENGTH} if code == 1
                   else set().union(*(r.descs[0][2] for r in regions)))

        def region_zones(region, cc=cc):
            if region in single_zone:
                return (single_zone[region],)
            if region in country_zones:
                return tuple(sorted(country_zones[region]))
            return tuple(sorted(geo.get(cc, ()))) or None

        def step(state, digit, regions=regions):
            return tuple(r.step(s, digit) for r, s in zip(regions, state))

        def kind_at(state, length, regions=regions, lengths=lengths, code=code):
            """'geo', or the region of a valid non-geographic number, or None."""
            if length not in lengths:
                return None
            for region, s in zip(regions, state):
                kind = region.kind(s, length)
                if (not s[2]) if region.leading else not kind:
                    continue
                if not kind:
                    return None
                if kind == "fixed_line" or (kind == "mobile" and code in geo_mobile):
                    return "geo"
                return region.code
            return None

        @lru_cache(maxsize=None)
        def kinds_below(state, length, lengths=lengths):
            kinds = {kind_at(state, length)} - {None}
            if length < max(lengths) and any(s[0][0] for s in state):
                for digit in DIGITS:
                    kinds |= kinds_below(step(state, digit), length + 1)
            return frozenset(kinds)

        def resolve(kind, prefix, keys=keys, region_zones=region_zones, cc=cc):
            if kind != "geo":
                return region_zones(kind)
            for end in range(len(prefix), len(cc) - 1, -1):
                if prefix[:end] in keys:
                    return tuple(sorted(geo[prefix[:end]]))
            return None

        @lru_cache(maxsize=None)
        def answers(digits, state, inner=inner, lengths=lengths, cc=cc):
            prefix = cc + digits
            if prefix not in inner:
                found = {resolve(k, prefix) for k in kinds_below(state, len(digits))}
                return frozenset(found - {None})
            found = {resolve(kind_at(state, len(digits)), prefix)} - {None}
            if len(digits) < max(lengths) and any(s[0][0] for s in state):
                for digit in DIGITS:
                    found |= answers(digits + digit, step(state, digit))
            return frozenset(found - {None})

        depth = max(len(cc) + 3, *(len(k) for k in keys))

        def emit(digits, state, inherited):
            found = answers(digits, state)
            if not found:
                return
            zones = sorted(set().union(*found))
            value = [collapse(zones, code)] if same_time(zones) else zones
            if value != inherited:
                out[cc + digits] = value
            # Mixed: walk on, up to a digit past the longest prefix of the raw map (deeper,
            # numbers of different zones rarely part, and the prefix stays ambiguous).
            if len(found) > 1 and len(cc + digits) <= depth:
                for digit in DIGITS:
                    emit(digits + digit, step(state, digit), value)

        emit("", tuple(r.start() for r in regions), None)
        print(f"  +{cc}: walked in {time.monotonic() - started:.1f} s", flush=True)
    return out


ZONE_TAB_ZONES = read_zone_tab()


def collapse(zones, code):
    """One zone for zones with the same offsets: the calling code's main region's first."""
    main = phonenumbers.region_code_for_country_code(code)
    preferred = [z for z in ZONE_TAB_ZONES.get(main, []) if z in zones]
    return (preferred or sorted(zones))[0]


def calling_code(prefix):
    for n in (1, 2, 3):
        if int(prefix[:n]) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            return prefix[:n]
    raise ValueError(prefix)


# --- output -----------------------------------------------------------------------

def write_tsv(name, rows):
    path = OUT / name
    path.write_text("".join("\t".join(row) + "\n" for row in rows))
    print(f"wrote {path.relative_to(OUT.parent.parent)}: {len(rows)} lines, "
          f"{path.stat().st_size} bytes")


def write_notice(version):
    source = Path(phonenumbers.__file__).parent / "tzdata" / "__init__.py"
    copyright = re.search(r"Copyright \(C\) [^\n]*", source.read_text()).group(0)
    (OUT / "NOTICE-phonenumbers.txt").write_text(f"""\
phone_zones.tsv and phone_regions.tsv are derived from the Python package
phonenumbers {version} (https://github.com/daviddrysdale/python-phonenumbers),
a port of Google's libphonenumber (https://github.com/google/libphonenumber).

{copyright}
(Python port by David Drysdale.)

Licensed under the Apache License, Version 2.0 (the "License"); you may not use
these files except in compliance with the License. You may obtain a copy of the
License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software distributed
under the License is distributed on an "AS IS" BASIS, WITHOUT WARRANTIES OR
CONDITIONS OF ANY KIND, either express or implied. See the License for the
specific language governing permissions and limitations under the License.

Changes: generated by scripts/generate-phone-data.py, which reduces
phonenumbers' metadata to region prefixes, replaces time zones that disagree
with the IANA tz database's zones for the prefix's country (or widens them to all
of that country's zones), and collapses zones with the same UTC offsets (see the
script's documentation).
""")


def main():
    version = metadata.version("phonenumbers")
    tzdata = Path("/usr/share/zoneinfo/tzdata.zi")
    tzversion = tzdata.read_text().split()[2] if tzdata.exists() else "from PyPI tzdata"
    print(f"phonenumbers {version}, tz database {tzversion}")
    OUT.mkdir(parents=True, exist_ok=True)

    country_zones = read_zone_tab()
    single_zone = {c: zs[0] for c, zs in sorted(country_zones.items()) if same_time(zs)}
    regions = region_table()
    geo, notes = zone_table(regions, country_zones, single_zone)
    zones = number_zone_table(geo, country_zones, single_zone)

    write_tsv("phone_zones.tsv", [(p, ",".join(z)) for p, z in sorted(zones.items())])
    write_tsv("phone_regions.tsv", sorted(regions.items()))
    write_tsv("country_zones.tsv", sorted(single_zone.items()))
    write_notice(version)

    print("\nChanges to phonenumbers' zones:")
    for note, prefixes in sorted(notes.items()):
        shown = " ".join(prefixes[:8]) + (" ..." if len(prefixes) > 8 else "")
        print(f"  {note}: {len(prefixes)} prefixes ({shown})")
    print("\nSanity checks (longest prefix):")
    for number in ["+3725551234", "+4915112345678", "+12125551234", "+13105551234",
                   "+18005551234", "+919812345678", "+61212345678", "+551123456789",
                   "+81312345678", "+447700900123", "+33612345678", "+5255123456789",
                   "+9779812345678", "+14165551234", "+447400123456", "+74012123456",
                   "+61412345678", "+61891234567", "+6421123456", "+6493001234",
                   "+16847331234", "+16846331234"]:
        zp, z = longest(zones, number[1:])
        rp, r = longest(regions, number[1:])
        shown = f"ambiguous, {len(z)} zones" if z and len(z) > 3 else ",".join(z or ["-"])
        print(f"  {number:16} zone {zp}={shown}  region {rp}={r}")
    for country in ["EE", "DE", "IN", "NP", "FR", "JP", "US", "AU", "ES", "GB"]:
        print(f"  country {country}: {single_zone.get(country, '- (several zones)')}")


if __name__ == "__main__":
    main()
