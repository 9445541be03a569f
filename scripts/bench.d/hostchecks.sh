#!/bin/bash
# The checker at scale on the host's own kernel (no sandbox): N real servers are listeners on
# loopback (10,000 ports per address from 127.0.0.1), checked every 1 s by lvsh (monitors
# over --dry-run's in-memory IPVS), by HAProxy (a backend per 1,000 servers, `check inter
# 1s`, `option httpchk` for HTTP) and by the least a checker can do (bench-minloop: an epoll
# loop, one connect and a reset per probe), each in a fresh network namespace of its own.
# A checker is measured by what reaches the listeners: their namespace's SYNs, counted and
# timed on its loopback (a connect check that never completes its handshake is seen by no
# accept). Prints per kind and N: checks/s, CPU per 100,000 checks (user and system, from
# /proc), resident memory and how late probes came against their 1 s schedule (p50/p99).
#   hostchecks.sh LVSH LISTENERS MINLOOP
set -euo pipefail
lvsh=$1 listeners=$2 minloop=$3
here=$(cd "$(dirname "$0")" && pwd)
rounds=${ROUNDS:-3} warmup=${WARMUP:-4} window=${WINDOW:-6}
work=$(mktemp -d /run/lvsh-hostchecks.XXXXXX 2>/dev/null || mktemp -d)
pids=()
stop_all() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    pids=()
}
cleanup() {
    stop_all
    rm -rf "$work"
    for ns in $(ip netns list | awk '/^hostchk-/ { print $1 }'); do ip netns del "$ns"; done
}
trap cleanup EXIT
limit=$(ulimit -Hn)
ulimit -n "$limit"
tck=$(getconf CLK_TCK)

# the HAProxy configuration for N servers (KIND tcp or http)
haproxy_cfg() {
    awk -v n="$1" -v http="$([ "$2" = http ] && echo 1 || echo 0)" 'BEGIN {
        print "global\n  nbthread 1\n  maxconn 1000"
        print "defaults\n  mode " (http ? "http" : "tcp") "\n  timeout connect 3s\n  timeout check 3s"
        print "  timeout client 10s\n  timeout server 10s\n  default-server check inter 1s"
        print "frontend f\n  bind 127.0.0.1:9999\n  default_backend b0"
        for (i = 0; i < n; i++) {
            if (i % 1000 == 0) {
                printf "backend b%d\n", i / 1000
                if (http) print "  option httpchk GET /\n  http-check expect status 200"
            }
            printf "  server s%d 127.0.0.%d:%d\n", i, 1 + int(i / 10000), 20000 + i % 10000
        }
    }'
}

# run PEER KIND N: one measurement; prints "peer kind n checks/s user/100k sys/100k rss p50 p99"
run() {
    local peer=$1 kind=$2 n=$3 ns=hostchk-$1 addrs a c
    addrs=$(((n + 9999) / 10000))
    ip netns add "$ns"
    ip netns exec "$ns" ip link set lo up
    for a in $(seq "$addrs"); do
        c=$((n - (a - 1) * 10000)); [ "$c" -gt 10000 ] && c=10000
        [ "$a" -gt 1 ] && ip netns exec "$ns" ip addr add "127.0.0.$a/8" dev lo
        # shellcheck disable=SC2046
        ip netns exec "$ns" "$listeners" 20000 "$c" "$work/acc$a" "127.0.0.$a" $([ "$kind" = http ] && echo http) &
        pids+=($!)
    done
    ip netns exec "$ns" "$listeners" syns "$work/syns" 1000 & local cap=$!
    pids+=("$cap")
    for a in $(seq "$addrs"); do until [ -s "$work/acc$a" ]; do sleep 0.1; done; done
    until [ -s "$work/syns" ]; do sleep 0.1; done
    local pid
    case $peer in
        lvsh)
            ip netns exec "$ns" "$lvsh" --dry-run "$here/hostchecks.lua" "$n" "$kind" >"$work/out" 2>&1 &
            pid=$!
            until grep -q READY "$work/out" 2>/dev/null; do sleep 0.1; done ;;
        haproxy)
            haproxy_cfg "$n" "$kind" >"$work/haproxy.cfg"
            ip netns exec "$ns" haproxy -db -f "$work/haproxy.cfg" >"$work/out" 2>&1 &
            pid=$! ;;
        loop)
            local targets=() mode=half
            [ "$kind" = http ] && mode=http
            for a in $(seq "$addrs"); do
                c=$((n - (a - 1) * 10000)); [ "$c" -gt 10000 ] && c=10000
                targets+=("127.0.0.$a:20000:$c")
            done
            ip netns exec "$ns" "$minloop" "$mode" 1000 "${targets[@]}" >"$work/out" 2>&1 &
            pid=$! ;;
    esac
    pids+=("$pid")
    sleep "$warmup"
    kill -USR1 "$cap"
    sleep 0.5
    local s0 s1 u0 u1 k0 k1 t0 t1 late
    s0=$(cut -d' ' -f1 "$work/syns"); read -r u0 k0 < <(awk '{ print $14, $15 }' "/proc/$pid/stat"); t0=$(date +%s.%N)
    sleep "$window"
    s1=$(cut -d' ' -f1 "$work/syns"); read -r u1 k1 < <(awk '{ print $14, $15 }' "/proc/$pid/stat"); t1=$(date +%s.%N)
    late=$(cut -d' ' -f3,4 "$work/syns")
    local rss
    rss=$(awk '/^VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$pid/status")
    stop_all
    ip netns del "$ns"
    rm -f "$work"/acc* "$work/syns"
    awk -v peer="$peer" -v kind="$kind" -v n="$n" -v s="$((s1 - s0))" -v u="$((u1 - u0))" -v k="$((k1 - k0))" \
        -v t0="$t0" -v t1="$t1" -v tck="$tck" -v rss="$rss" -v late="$late" 'BEGIN {
            split(late, l, " ")
            per = s ? 100000 / s / tck : 0
            printf "%s %s %d %.0f %.2f %.2f %s %s %s\n", peer, kind, n, s / (t1 - t0), u * per, k * per, rss, l[1], l[2]
        }'
}

echo "== checks on the host's kernel: listeners on loopback, every check every 1 s (lvsh --dry-run, HAProxy $(haproxy -v | awk 'NR == 1 { print $3 }'), the minimal loop)"
echo "open files allowed here: $limit per process"
res=$work/results
: >"$res"
for spec in "tcp 1000 1" "tcp 10000 $rounds" "http 1000 1" "http 10000 $rounds" "tcp 50000 1"; do
    read -r kind n r <<<"$spec"
    for i in $(seq "$r"); do
        for peer in loop haproxy lvsh; do
            # HAProxy keeps a descriptor per checked server, and more for its connections
            if [ "$peer" = haproxy ] && [ $((n + 2100)) -gt "$limit" ]; then
                grep -q "^haproxy $kind $n skipped" "$res" || echo "haproxy $kind $n skipped" >>"$res"
                continue
            fi
            run "$peer" "$kind" "$n" >>"$res"
        done
    done
done
echo "(each figure from the run with the least CPU per check of ${rounds} at 10,000, else of one; ${window} s after ${warmup} s)"
printf '%-5s %6s %-8s %9s %13s %12s %12s %8s %9s %9s\n' kind N checker checks/s "CPU us/check" "user s/100k" "sys s/100k" "RSS MB" "late p50" "late p99"
best() { # KIND N PEER -> the line with the least CPU per check
    awk -v k="$1" -v n="$2" -v p="$3" '$1 == p && $2 == k && $3 == n && $4 > 0 { print $5 + $6, $0 }' "$res" | sort -n | head -n 1 | cut -d' ' -f2-
}
for spec in "tcp 1000" "tcp 10000" "http 1000" "http 10000" "tcp 50000"; do
    read -r kind n <<<"$spec"
    for peer in loop haproxy lvsh; do
        if grep -q "^$peer $kind $n skipped" "$res"; then
            printf '%-5s %6s %-8s   not run: %d servers take more descriptors than the %d allowed\n' "$kind" "$n" "$peer" "$n" "$limit"
            continue
        fi
        read -r _ _ _ rate u k rss p50 p99 <<<"$(best "$kind" "$n" "$peer")"
        printf '%-5s %6s %-8s %9s %13.1f %12s %12s %8s %7s ms %6s ms\n' "$kind" "$n" "$peer" "$rate" \
            "$(awk -v u="$u" -v k="$k" 'BEGIN { print (u + k) * 10 }')" "$u" "$k" "$rss" "$p50" "$p99"
    done
done
ratio() { # KIND N PEER_A PEER_B: CPU per check of A over B
    local a b
    a=$(best "$1" "$2" "$3" | awk '{ print $5 + $6 }'); b=$(best "$1" "$2" "$4" | awk '{ print $5 + $6 }')
    [ -n "$a" ] && [ -n "$b" ] && awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2fx", a / b }' || echo "n/a"
}
echo "CPU per check, tcp 10,000: lvsh/loop = $(ratio tcp 10000 lvsh loop) (target <= 1.15x), lvsh/HAProxy = $(ratio tcp 10000 lvsh haproxy) (target < 1)"
echo "CPU per check, http 10,000: lvsh/HAProxy = $(ratio http 10000 lvsh haproxy) (target < 1), lvsh/loop = $(ratio http 10000 lvsh loop)"
read -r _ _ _ rate u k rss _ _ <<<"$(best tcp 50000 lvsh)"
awk -v rate="$rate" -v u="$u" -v k="$k" -v rss="$rss" 'BEGIN {
    printf "tcp 50,000: lvsh sustains %d checks/s on %.2f cores (%.0f checks/s per core): per 100,000 checks %.2f s user (lvsh'"'"'s own work) and %.2f s system (the kernel'"'"'s TCP), %s MB\n", rate, (u + k) * rate / 100000, 100000 / (u + k), u, k, rss
}'
echo "targets: 10,000/s with p99 lateness < 100 ms for tcp and http; RSS at 10,000 tcp servers < 24 MB (lvsh: $(best tcp 10000 lvsh | awk '{ print $7 }') MB)"
echo "(all runs: checker kind N checks/s user-s/100k sys-s/100k RSS-MB p50-ms p99-ms)"
sed 's/^/  /' "$res"
