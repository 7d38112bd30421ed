#!/usr/bin/env bash
# Times `cairn simulate` of the welcome template for N contacts (default 100 000).
#
#   scripts/bench-simulate.sh [N]
#
# Generates N contacts in 4 zones (a quarter without email, a quarter without phone) and opens
# for a third of them, builds the release binary, and prints wall time and peak RSS of the
# simulation, with the time to merely read the same files (`flows validate` + `wc`) as a baseline.
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-100000}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

awk -v n="$N" 'BEGIN {
  split("Europe/Tallinn America/New_York Asia/Kolkata Australia/Sydney", zones, " ");
  print "id,email,phone,timezone,country,first_name" > "'"$WORK"'/contacts.csv";
  for (i = 1; i <= n; i++) {
    email = (i % 4 == 1) ? "" : "c" i "@example.com";
    phone = (i % 4 == 2) ? "" : "+3725" sprintf("%07d", i);
    printf "c%d,%s,%s,%s,EE,Name%d\n", i, email, phone, zones[i % 4 + 1], i > "'"$WORK"'/contacts.csv";
    if (i % 3 == 0) printf "{\"at\":\"2026-12-30T09:00:00Z\",\"contact\":\"c%d\",\"type\":\"opened\",\"message\":\"hello\"}\n", i > "'"$WORK"'/events.ndjson";
  }
}'

cargo build --release --quiet
BIN=target/release/cairn
measure() { /usr/bin/time -o "$WORK/time.txt" -f "%e s wall, %U s user, peak RSS %M KB" "$@"; cat "$WORK/time.txt"; }

echo "contacts: $N ($(wc -c < "$WORK/contacts.csv") bytes), events: $(wc -l < "$WORK/events.ndjson")"
echo -n "baseline (validate the flow, read the inputs): "
measure sh -c "$BIN flows validate flows/templates/welcome.json >/dev/null && cat $WORK/contacts.csv $WORK/events.ndjson | wc -l >/dev/null"
echo -n "cairn simulate welcome.json: "
/usr/bin/time -o "$WORK/time.txt" -f "%e s wall, %U s user, peak RSS %M KB" \
  "$BIN" simulate flows/templates/welcome.json --contacts "$WORK/contacts.csv" --events "$WORK/events.ndjson" \
  --start 2026-12-30T08:00:00Z > "$WORK/journal.ndjson" 2> "$WORK/summary.txt"
cat "$WORK/time.txt"
echo "summary: $(tail -1 "$WORK/summary.txt")"
echo "journal: $(wc -l < "$WORK/journal.ndjson") lines, $(wc -c < "$WORK/journal.ndjson") bytes"
