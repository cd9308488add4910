#!/bin/sh
# The Asterisk log sensor against fail2ban, on the same generated log, in the same run.
#
#   crates/logs/bench/fail2ban.sh [LINES] [SEED] [RUNS]      (defaults: 1000000 42 3)
#
# Generates a seeded Asterisk log (crates/logs/examples/gen_asterisk_log.rs), then times
# `pbxguard replay` (median of RUNS) and `fail2ban-regex` with Debian's asterisk filter (one run: it is
# slow), prints lines/s and the ratio, and compares the addresses each flags. fail2ban flags an address
# with at least maxretry (5) matches within findtime (10 minutes), the defaults of Debian's jail.conf;
# pbxguard runs with the same thresholds (auth failures and enumerated users: 5 in 10 minutes) and its
# other defaults. Every difference is listed with its reason.
set -eu
LINES=${1:-1000000}
SEED=${2:-42}
RUNS=${3:-3}
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
DIR=${BENCH_DIR:-${TMPDIR:-/tmp}/pbxguard-fail2ban}
mkdir -p "$DIR"
FILTER=/etc/fail2ban/filter.d/asterisk.conf
command -v fail2ban-regex >/dev/null || { echo "fail2ban-regex not found (apt-get install fail2ban)" >&2; exit 2; }

cd "$ROOT"
cargo build -q --release -p pbxguard --bin pbxguard
cargo build -q --release -p pbxguard-logs --example gen_asterisk_log
TARGET=$(cargo metadata -q --format-version 1 --no-deps | python3 -c "import json,sys; print(json.load(sys.stdin)[\"target_directory\"])")
BIN="$TARGET/release/pbxguard"
"$TARGET/release/examples/gen_asterisk_log" "$LINES" "$SEED" > "$DIR/full.log"
cat > "$DIR/bench.toml" <<'TOML'
# fail2ban's Debian defaults: maxretry 5 within findtime 10m.
[rules.auth]
max_failures = 5
window = "10m"

[rules.enumeration]
max_users = 5
window = "10m"
TOML

echo "log: $DIR/full.log ($(wc -l < "$DIR/full.log") lines, $(du -m "$DIR/full.log" | cut -f1) MB)"
i=0
: > "$DIR/replay.times"
while [ "$i" -lt "$RUNS" ]; do
  start=$(date +%s.%N)
  "$BIN" --config "$DIR/bench.toml" --json replay -q "$DIR/full.log" > "$DIR/replay.json" || true
  end=$(date +%s.%N)
  echo "$end - $start" | bc >> "$DIR/replay.times"
  i=$((i + 1))
done
start=$(date +%s.%N)
fail2ban-regex "$DIR/full.log" "$FILTER" > "$DIR/fail2ban.txt"
end=$(date +%s.%N)
echo "$end - $start" | bc > "$DIR/fail2ban.time"
fail2ban-regex -o row "$DIR/full.log" "$FILTER" > "$DIR/fail2ban.rows"

python3 "$ROOT/crates/logs/bench/compare.py" "$DIR" "$LINES"
