#!/usr/bin/env bash
# The README's performance runs, one after another (never two benchmarks at once).
set -u
cd "$(dirname "$0")/.."
mkdir -p results
SAMPLE="ta01 ta02 ta11 ta12 ta21 ta22 ta31 ta32 ta41 ta42 ta51 ta52 ta61 ta62 ta71 ta72"
J=${APS_JSSP_DIR:-../shared/jssp}/instances
date -u +"start sample60 %FT%TZ"
.venv/bin/aps bench $SAMPLE --instances "$J" --time-limit 60 --workers 2 --baseline plain \
  --out results/ta-sample-60.csv --markdown results/ta-sample-60.md
date -u +"start sample10 %FT%TZ"
.venv/bin/aps bench $SAMPLE --instances "$J" --time-limit 10 --workers 2 --baseline plain \
  --out results/ta-sample-10.csv --markdown results/ta-sample-10.md
date -u +"start full60 %FT%TZ"
.venv/bin/aps bench 'ta*' --instances "$J" --time-limit 60 --workers 2 \
  --out results/ta-all-60.csv --markdown results/ta-all-60.md
date -u +"done %FT%TZ"
