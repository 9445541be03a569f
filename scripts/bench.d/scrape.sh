#!/bin/bash
# Runs inside the sandbox kernel: one table of 22,100 rules (1,100 services), 10,000 of its
# real servers under TCP checks every 10 s by lvsh (1,000 checks a second: the most the
# sandbox's one CPU keeps up with, see checks.sh and scrape.lua); scrapes lvsh's endpoint and
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
rounds=${ROUNDS:-7} watch=${WATCH:-10} interval=${INTERVAL:-10}

ip netns add "$ns"
run() { ip netns exec "$ns" "$@"; }
run ip link set lo up
run "$listeners" 20000 10000 "$work/count" & pids+=($!)
until [ -s "$work/count" ]; do sleep 0.2; done
# started without a subshell around them: their pids are theirs (for the memory figures)
INTERVAL=$interval ip netns exec "$ns" "$lvsh" "$here/scrape.lua" >"$work/lvsh.out" 2>"$work/lvsh.err" & lvsh_pid=$!
pids+=($lvsh_pid)
until grep -q READY "$work/lvsh.out" 2>/dev/null; do sleep 0.2; done
ip netns exec "$ns" prometheus-node-exporter --collector.disable-defaults --collector.ipvs --web.disable-exporter-metrics \
    --web.listen-address=127.0.0.1:9100 >/dev/null 2>&1 & ne_pid=$!; pids+=($ne_pid)
until run curl -sf -o /dev/null http://127.0.0.1:9100/metrics; do sleep 0.2; done
# the first round of checks (spread over the interval) is in
sleep $((interval + 2))

scrape() { # URL: seconds of one scrape, and the series it returned
    run curl -sf -o "$work/body" -w '%{time_total}' "$1"
    printf ' %s\n' "$(grep -vc '^#' "$work/body")"
}
for r in $(seq "$rounds"); do
    scrape http://127.0.0.1:9917/metrics >>"$work/lvsh.res"
    scrape http://127.0.0.1:9100/metrics >>"$work/ne.res"
done
rss() { awk '/^VmHWM/ { printf "%d", $2 / 1024 }' "/proc/$1/status"; }
l_rss=$(rss "$lvsh_pid") n_rss=$(rss "$ne_pid")
free_mb=$(awk '/^MemAvailable/ { printf "%d", $2 / 1024 }' /proc/meminfo)
read -r l_t l_n <<<"$(sort -n "$work/lvsh.res" | head -n 1)"
read -r n_t n_n <<<"$(sort -n "$work/ne.res" | head -n 1)"

# the oldest check a scrape shows, the loop's lag and the servers shown (grep first: awk
# over all 23 MB of each scrape would cost the sandbox's one CPU more than the scrape does).
# The reader runs at the least priority: on a director the scraper is another machine, and
# here it would otherwise take from the director's own share of the one CPU.
ages() {
    run nice -n 19 curl -sf http://127.0.0.1:9917/metrics |
        nice -n 19 grep -E '^lvsh_(server_seconds_since_check|loop_lag_seconds)' | awk '
        /^lvsh_server_seconds_since_check/ { if ($NF + 0 > age) age = $NF + 0; n++ }
        /^lvsh_loop_lag_seconds/ { lag = $NF }
        END { printf "%.3f %.3f %d\n", age, lag, n }'
}
# without scraping for a while first: what the checks alone give
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
t0=$(ticks "$lvsh_pid")
sleep 15
checks_cpu=$(( ($(ticks "$lvsh_pid") - t0) * 100 / $(getconf CLK_TCK) / 15 ))
read -r quiet_oldest quiet_lag _ <<<"$(ages)"
# then scraping every second
: >"$work/ages"
for _ in $(seq "$watch"); do
    t0=$EPOCHREALTIME
    ages >>"$work/ages"
    t1=$EPOCHREALTIME
    sleep "$(awk -v a="$t0" -v b="$t1" 'BEGIN { d = 1 - (b - a); print (d > 0 ? d : 0) }')"
done
read -r oldest lag checked _ <<<"$(sort -n "$work/ages" | tail -n 1)"
probed=$(awk '{ print $1 }' "$work/count")

echo "== metrics: one scrape of 22,100 rules, 10,000 servers under TCP checks every ${interval} s"
printf '%-15s %10s %10s %14s\n' "" "seconds" "series" "peak RSS MB"
printf '%-15s %10s %10s %14s\n' lvsh "$l_t" "$l_n" "$l_rss"
printf '%-15s %10s %10s %14s\n' node_exporter "$n_t" "$n_n" "$n_rss"
echo "(the sandbox had ${free_mb} MB available after the scrapes)"
awk -v l="$l_t" -v n="$n_t" -v ls="$l_n" -v ns="$n_n" 'BEGIN {
    printf "scrape time: node_exporter/lvsh = %.2fx (target >= 2); series per second: lvsh/node_exporter = %.2fx\n",
        (l ? n / l : 0), (l && n && ns ? (ls / l) / (ns / n) : 0)
}'
echo "(best of $rounds alternating scrapes; all: lvsh $(awk '{ printf "%s ", $1 }' "$work/lvsh.res")| node_exporter $(awk '{ printf "%s ", $1 }' "$work/ne.res"))"
echo "checks alone (no scrape for 15 s, then one): lvsh used ${checks_cpu}% of the CPU; the oldest check was ${quiet_oldest} s old, loop lag up to ${quiet_lag} s"
echo "scraping lvsh every second for ${watch} s: the oldest check in any scrape was ${oldest} s old (of ${checked} servers), loop lag up to ${lag} s"
echo "(interval ${interval} s: a check on time is at most ${interval} s old plus its own duration; ${probed} connections accepted by the listeners)"
