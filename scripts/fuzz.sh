#!/usr/bin/env bash
# Builds the fuzz targets in fuzz/ and runs each for SECONDS (default 60), one job each.
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`); on a stable toolchain the build is
# allowed nightly flags through RUSTC_BOOTSTRAP=1. Crashes land in fuzz/artifacts/<target>/;
# the corpus grows in fuzz/corpus/<target>/ (only the seed-* files are committed).
#
#   scripts/fuzz.sh          # 60 s per target
#   scripts/fuzz.sh 3600     # an hour per target
set -euo pipefail
seconds="${1:-60}"
cd "$(dirname "$0")/../fuzz"
RUSTC_BOOTSTRAP=1 cargo fuzz build -O
bin="target/$(rustc -vV | sed -n 's/^host: //p')/release"
status=0
for target in $(RUSTC_BOOTSTRAP=1 cargo fuzz list); do
    mkdir -p "corpus/$target" "artifacts/$target"
    echo "== $target: ${seconds} s"
    "$bin/$target" -max_total_time="$seconds" -jobs=1 -workers=1 -print_final_stats=1 \
        -artifact_prefix="artifacts/$target/" "corpus/$target" || status=1
done
exit "$status"
