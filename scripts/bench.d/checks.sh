#!/bin/bash
# Runs inside the sandbox kernel: 10,000 real servers (listeners on loopback) under TCP checks
# at a 1 s interval, checked by lvsh and then by keepalived, each in a fresh namespace; prints
# checks per second (connections the listeners accepted), CPU seconds per 100,000 checks and
# resident memory, and the ratios.
set -euo pipefail
lvsh=$1 listeners=$2 n=${3:-10000}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    sleep 0.5
    rm -rf "$work"
    for ns in $(ip netns list | awk '/^chk-/ { print $1 }'); do ip netns del "$ns"; done
}
trap cleanup EXIT
ulimit -n 65536
warmup=${WARMUP:-6} window=${WINDOW:-15}
tck=$(getconf CLK_TCK)

cpu_of() { # user+system clock ticks of these pids
    local t=0
    for p in "$@"; do
        [ -r "/proc/$p/stat" ] && t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat")))
    done
    echo "$t"
}
user_of() { # user clock ticks of these pids
    local t=0
    for p in "$@"; do
        [ -r "/proc/$p/stat" ] && t=$((t + $(awk '{ print $14 }' "/proc/$p/stat")))
    done
    echo "$t"
}
rss_of() { # resident MB of these pids
    local kb=0
    for p in "$@"; do
        [ -r "/proc/$p/status" ] && kb=$((kb + $(awk '/^VmRSS/ { print $2 }' "/proc/$p/status")))
    done
    echo $((kb / 1024))
}

# measure NAME COUNTFILE PID... : prints "checks/s cpu_per_100k rss_mb"
measure() {
    local name=$1 file=$2; shift 2
    sleep "$warmup"
    local c0 c1 u0 u1 t0 t1
    c0=$(cat "$file"); u0=$(cpu_of "$@"); us0=$(user_of "$@"); t0=$(date +%s.%N)
    sleep "$window"
    c1=$(cat "$file"); u1=$(cpu_of "$@"); us1=$(user_of "$@"); t1=$(date +%s.%N)
    awk -v c="$((c1 - c0))" -v u="$((u1 - u0))" -v us="$((us1 - us0))" -v tck="$tck" -v t0="$t0" -v t1="$t1" \
        -v rss="$(rss_of "$@")" 'BEGIN {
            rate = c / (t1 - t0); per = c ? (u / tck) / c * 100000 : 0
            printf "%.0f %.2f %d %.0f\n", rate, per, rss, (u ? 100 * us / u : 0) }'
}

# Each run gets a fresh namespace and its own listeners, stopped afterwards.
stop_all() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    pids=()
}

# NS: a fresh namespace with the listeners running in it
with_listeners() {
    ip netns add "$1"
    ip netns exec "$1" ip link set lo up
    ip netns exec "$1" "$listeners" 20000 "$n" "$work/$1.count" & pids+=($!)
    until [ -s "$work/$1.count" ]; do sleep 0.2; done
}

run_lvsh() {
    local ns=chk-lvsh-$1
    with_listeners "$ns"
    ip netns exec "$ns" "$lvsh" "$here/checks.lua" "$n" >"$work/$ns.out" 2>/dev/null & local pid=$!
    pids+=("$pid")
    until grep -q READY "$work/$ns.out" 2>/dev/null; do sleep 0.2; done
    measure lvsh "$work/$ns.count" "$pid"
    stop_all
    ip netns del "$ns"
}

run_keepalived() {
    local ns=chk-ka-$1
    with_listeners "$ns"
    rm -f "$work/ka-check.pid"
    awk -v n="$n" 'BEGIN {
        print "global_defs {\n  script_user root\n}"
        for (i = 0; i < n; i++) {
            if (i % 100 == 0) {
                if (i) print "}"
                printf "virtual_server 192.0.2.1 %d {\n  delay_loop 1\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n", 1000 + int(i / 100)
            }
            printf "  real_server 127.0.0.1 %d {\n    weight 1\n    TCP_CHECK {\n      connect_timeout 3\n    }\n  }\n", 20000 + i
        }
        print "}"
    }' >"$work/keepalived.conf"
    ip netns exec "$ns" keepalived -n -G -C -f "$work/keepalived.conf" -p "$work/ka.pid" -c "$work/ka-check.pid" \
        >/dev/null 2>&1 & pids+=($!)
    until [ -s "$work/ka-check.pid" ]; do sleep 0.2; done
    # every keepalived process (the parent and its checker child)
    local kp
    kp=$(pgrep -d ' ' -x keepalived)
    # shellcheck disable=SC2086
    measure keepalived "$work/$ns.count" $kp
    stop_all
    ip netns del "$ns"
}

echo "== health checks: $n real servers, TCP checks every 1 s, listeners on loopback"
# Alternating rounds; each checker's figures are from its round with the least CPU per check
# (the sandbox is noisy, and noise only ever adds).
rounds=${ROUNDS:-2}
for r in $(seq "$rounds"); do
    run_lvsh "$r" >>"$work/lvsh.res"
    run_keepalived "$r" >>"$work/ka.res"
done
read -r l_rate l_cpu l_rss _ <<<"$(sort -k2 -n "$work/lvsh.res" | head -n 1)"
read -r k_rate k_cpu k_rss _ <<<"$(sort -k2 -n "$work/ka.res" | head -n 1)"
printf '%-11s %12s %22s %8s\n' "" "checks/s" "CPU s per 100k checks" "RSS MB"
printf '%-11s %12s %22s %8s\n' lvsh "$l_rate" "$l_cpu" "$l_rss"
printf '%-11s %12s %22s %8s\n' keepalived "$k_rate" "$k_cpu" "$k_rss"
awk -v lc="$l_cpu" -v kc="$k_cpu" -v lr="$l_rate" -v kr="$k_rate" 'BEGIN {
    printf "CPU per check: keepalived/lvsh = %.2fx (target > 1); checks/s: lvsh/keepalived = %.2fx\n", (lc ? kc / lc : 0), (kr ? lr / kr : 0)
}'
echo "(best of $rounds alternating rounds of ${window} s after ${warmup} s; all rounds: checks/s, CPU s per 100k, RSS MB, user %:"
sed 's/^/  lvsh       /' "$work/lvsh.res"
sed 's/^/  keepalived /' "$work/ka.res"
echo ")"
echo "targets: lvsh >= 10000 checks/s on one core, < 100 MB resident, fewer CPU seconds per check than keepalived"
