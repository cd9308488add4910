#!/bin/sh
# Runs every fuzz target for SECONDS (default 60) with the RFC 4475/5118 messages as seeds.
# New corpus entries go to fuzz/corpus/TARGET (git-ignored); crashes to fuzz/artifacts/.
# cargo-fuzz needs nightly flags; RUSTC_BOOTSTRAP=1 lets the stable toolchain accept them.
set -eu
cd "$(dirname "$0")"
secs="${1:-60}"
shift || true
targets="${*:-datagram stream uri sdp facts}"
for t in $targets; do
    mkdir -p "corpus/$t"
    RUSTC_BOOTSTRAP=1 cargo fuzz run "$t" "corpus/$t" ../tests/fixtures/rfc4475 ../tests/fixtures/rfc5118 \
        -- -max_total_time="$secs" -print_final_stats=1
done
