#!/bin/bash
# Runs inside the sandbox kernel: 2,000 services of 2 real servers each, all monitored, every
# 1 s. Prints how the monitors read the table per interval (netlink dumps, shared reads of
# /proc/net/ip_vs) and the CPU lvsh used, with the shared read and without it (one dump per
# service per interval, as before), best of ROUNDS alternating rounds.
set -euo pipefail
lvsh=$1 services=${2:-2000}
here=$(cd "$(dirname "$0")" && pwd)
rounds=${ROUNDS:-2}
ns=reads-$$
ip netns add "$ns"
trap 'ip netns del "$ns"' EXIT
ip netns exec "$ns" ip link set lo up
awk -v n="$services" 'BEGIN {
    for (i = 0; i < n; i++) {
        vip = sprintf("198.51.100.%d:%d", 1 + int(i / 100), 10000 + i % 100)
        printf "-A -t %s -s wrr\n", vip
        for (r = 1; r <= 2; r++) printf "-a -t %s -r 203.0.113.%d:%d -m -w 1\n", vip, r, 10000 + i % 100
    }
}' | ip netns exec "$ns" ipvsadm-restore
best_shared= best_dumps=
for _ in $(seq "$rounds"); do
    for mode in 1 0; do
        # count dumps-per-interval shared-reads-per-interval cpu-ticks-per-second
        out=$(ip netns exec "$ns" env LVSH_SHARED_READ=$mode "$lvsh" "$here/reads.lua" 2>/dev/null)
        read -r count dumps shared cpu <<<"$out"
        line="$dumps $shared $cpu"
        if [ "$mode" = 1 ]; then
            if [ -z "$best_shared" ] || awk -v a="$cpu" -v b="${best_shared##* }" 'BEGIN { exit !(a < b) }'; then best_shared=$line; fi
        else
            if [ -z "$best_dumps" ] || awk -v a="$cpu" -v b="${best_dumps##* }" 'BEGIN { exit !(a < b) }'; then best_dumps=$line; fi
        fi
    done
done
tck=$(getconf CLK_TCK)
read -r sd ss sc <<<"$best_shared"
read -r dd ds dc <<<"$best_dumps"
echo; echo "== table reads of $count monitored services (2 real servers each, checks every 1 s), best of $rounds rounds:"
awk -v t="$tck" -v sd="$sd" -v ss="$ss" -v sc="$sc" -v dd="$dd" -v dc="$dc" 'BEGIN {
    printf "  shared read:      %6.1f netlink dumps and %4.1f shared reads per interval; lvsh used %4.1f%% of the CPU\n", sd, ss, 100 * sc / t
    printf "  a dump each:      %6.1f netlink dumps per interval;                        lvsh used %4.1f%% of the CPU\n", dd, 100 * dc / t
    if (sc > 0) printf "  CPU with the shared read: %.2fx less (the checks themselves are in both)\n", dc / sc
}'
echo
