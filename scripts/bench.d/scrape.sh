#!/bin/bash
# Runs inside the sandbox kernel: one table of 22,000 rules (2,000 services x 10 real servers),
# 10,000 of its servers under TCP checks every 10 s by lvsh (1,000 checks a second: the most
# the sandbox's one CPU keeps up with, see checks.sh); scrapes lvsh's endpoint and
# node_exporter's ipvs collector (Debian's prometheus-node-exporter) on the same table, in the
# same namespace, alternately; then scrapes lvsh every second for a while and reports the
# oldest check any scrape showed: a check on time is never older than its interval.
set -euo pipefail
lvsh=$1 listeners=$2
here=$(cd "$(dirname "$0")" && pwd)
# on the sandbox's tmpfs: a scrape's 30 MB written through hostfs would be timed, not the scrape
work=$(mktemp -d -p /run)
ns=scrape-$$
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    sleep 0.5
    rm -rf "$work"
    ip netns del "$ns" 2>/dev/null || true
}
trap cleanup EXIT
ulimit -n 65536
rounds=${ROUNDS:-5} watch=${WATCH:-20}

ip netns add "$ns"
run() { ip netns exec "$ns" "$@"; }
run ip link set lo up
run "$listeners" 20000 10000 "$work/count" & pids+=($!)
until [ -s "$work/count" ]; do sleep 0.2; done
run "$lvsh" "$here/scrape.lua" >"$work/lvsh.out" 2>"$work/lvsh.err" & pids+=($!)
until grep -q READY "$work/lvsh.out" 2>/dev/null; do sleep 0.2; done
run prometheus-node-exporter --collector.disable-defaults --collector.ipvs --web.disable-exporter-metrics \
    --web.listen-address=127.0.0.1:9100 >/dev/null 2>&1 & pids+=($!)
until run curl -sf -o /dev/null http://127.0.0.1:9100/metrics; do sleep 0.2; done
# the first round of checks (spread over the 10 s interval) is in
sleep 12

scrape() { # URL: seconds of one scrape, and the series it returned
    run curl -sf -o "$work/body" -w '%{time_total}' "$1"
    printf ' %s\n' "$(grep -vc '^#' "$work/body")"
}
for r in $(seq "$rounds"); do
    scrape http://127.0.0.1:9917/metrics >>"$work/lvsh.res"
    scrape http://127.0.0.1:9100/metrics >>"$work/ne.res"
done
read -r l_t l_n <<<"$(sort -n "$work/lvsh.res" | head -n 1)"
read -r n_t n_n <<<"$(sort -n "$work/ne.res" | head -n 1)"

# scraping every second: the oldest check each scrape shows, and the loop's lag
: >"$work/ages"
for _ in $(seq "$watch"); do
    t0=$EPOCHREALTIME
    run curl -sf http://127.0.0.1:9917/metrics | awk '
        /^lvsh_server_seconds_since_check\{/ { if ($NF + 0 > age) { age = $NF + 0; at = $0 }; n++ }
        /^lvsh_loop_lag_seconds / { lag = $NF }
        END { printf "%.3f %.3f %d %s\n", age, lag, n, at }' >>"$work/ages"
    t1=$EPOCHREALTIME
    sleep "$(awk -v a="$t0" -v b="$t1" 'BEGIN { d = 1 - (b - a); print (d > 0 ? d : 0) }')"
done
read -r oldest lag checked _ <<<"$(sort -n "$work/ages" | tail -n 1)"
probed=$(awk '{ print $1 }' "$work/count")

echo "== metrics: one scrape of 22,000 rules, 10,000 servers under TCP checks every 10 s"
printf '%-15s %10s %10s\n' "" "seconds" "series"
printf '%-15s %10s %10s\n' lvsh "$l_t" "$l_n"
printf '%-15s %10s %10s\n' node_exporter "$n_t" "$n_n"
awk -v l="$l_t" -v n="$n_t" -v ls="$l_n" -v ns="$n_n" 'BEGIN {
    printf "scrape time: node_exporter/lvsh = %.2fx (target >= 2); series per second: lvsh/node_exporter = %.2fx\n",
        (l ? n / l : 0), (l && n && ns ? (ls / l) / (ns / n) : 0)
}'
echo "(best of $rounds alternating scrapes; all: lvsh $(awk '{ printf "%s ", $1 }' "$work/lvsh.res")| node_exporter $(awk '{ printf "%s ", $1 }' "$work/ne.res"))"
echo "scraping lvsh every second for ${watch} s: the oldest check in any scrape was ${oldest} s old (of ${checked} servers; interval 10 s: a check on time is at most 10 s old plus its own duration); loop lag up to ${lag} s; ${probed} connections accepted by the listeners"
