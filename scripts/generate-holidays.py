#!/usr/bin/env python3
"""Generate flows/data/holidays.tsv, the public holidays the `flows` crate embeds.

Each line is `<ISO 3166-1 alpha-2>\t<YYYY-MM-DD>\t<name>`, sorted by country then
date, for every country the PyPI package `holidays` supports, years FIRST_YEAR
through LAST_YEAR. National holidays only: default subdivision, default
category (public), observed days included as the package gives them (e.g.
"Independence Day (observed)"). One line per date: when two holidays fall on the
same day the package joins their names with "; ". Names are in English
(language en_US) where the country offers it, else the package's default
(English for countries without translations).

Source: PyPI `holidays` (https://github.com/vacanza/holidays), MIT license; the
license text is copied to flows/data/NOTICE-holidays.txt.

Refresh (from the repository root; network access to PyPI needed):
    python3 -m venv /tmp/cairn-data
    /tmp/cairn-data/bin/pip install holidays==0.109
    /tmp/cairn-data/bin/python scripts/generate-holidays.py
Last generated with holidays 0.109 and Python 3.11. Bump the pinned version (and
the years) to take newer data, rerun, review the diff.
"""

from importlib import metadata
from pathlib import Path

import holidays

FIRST_YEAR, LAST_YEAR = 2025, 2031
OUT = Path(__file__).resolve().parent.parent / "flows" / "data"


def rows():
    out, skipped = [], []
    for country in sorted(holidays.list_supported_countries(include_aliases=False)):
        calendar = holidays.country_holidays(country, years=FIRST_YEAR)
        language = "en_US" if "en_US" in calendar.supported_languages else None
        calendar = holidays.country_holidays(
            country, years=range(FIRST_YEAR, LAST_YEAR + 1), language=language)
        for day, name in sorted(calendar.items()):
            name = name.strip()
            if "\t" in name or "\n" in name:
                skipped.append((country, day, name))
                continue
            out.append((country, day.isoformat(), name))
    return out, skipped


def main():
    version = metadata.version("holidays")
    print(f"holidays {version}, years {FIRST_YEAR}-{LAST_YEAR}")
    OUT.mkdir(parents=True, exist_ok=True)
    table, skipped = rows()
    path = OUT / "holidays.tsv"
    path.write_text("".join("\t".join(row) + "\n" for row in table))

    dist = metadata.distribution("holidays")
    license_text = next(f for f in dist.files if f.name == "LICENSE").read_text()
    (OUT / "NOTICE-holidays.txt").write_text(
        f"holidays.tsv is derived from the Python package holidays {version}\n"
        f"(https://github.com/vacanza/holidays), under the MIT license:\n\n{license_text}")

    countries = sorted({row[0] for row in table})
    print(f"wrote {path.relative_to(OUT.parent.parent)}: {len(table)} lines, "
          f"{path.stat().st_size} bytes, {len(countries)} countries")
    for country, day, name in skipped:
        print(f"  skipped {country} {day}: {name!r}")
    for country in ("EE", "US", "IN"):
        print(f"\n{country} 2026:")
        for row in table:
            if row[0] == country and row[1].startswith("2026-"):
                print("  " + "\t".join(row))


if __name__ == "__main__":
    main()
