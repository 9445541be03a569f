#!/bin/bash
# Runs inside the sandbox kernel: loads and lists 2,000 services x 10 real servers (22,000 rules)
# with ipvsadm and with lvsh, on the same kernel, and prints the times and ratios.
set -euo pipefail
lvsh=$1
work=$(mktemp -d)
cleanup() {
    rm -rf "$work"
    for n in $(ip netns list | awk '/^bench-/ { print $1 }'); do ip netns del "$n"; done
}
trap cleanup EXIT
# Every timed run gets a fresh network namespace: IPVS keeps deleted real servers in a
# per-namespace trash for 120 s and searches it on every add, which would slow later runs.
ns=
fresh() {
    ns="bench-$BASHPID-$RANDOM"
    ip netns add "$ns"
    ip netns exec "$ns" ip link set lo up
}
run() { ip netns exec "$ns" "$@"; }
fresh

awk 'BEGIN {
    for (i = 0; i < 2000; i++) {
        vip = sprintf("198.51.100.%d:%d", 1 + int(i / 100), 10000 + i % 100)
        printf "-A -t %s -s wrr\n", vip
        for (r = 1; r <= 10; r++)
            printf "-a -t %s -r 203.0.113.%d:%d -m -w %d\n", vip, r, 10000 + i % 100, (i + r) % 7 + 1
    }
}' >"$work/rules"

# Each command is timed inside its namespace, by the shell there, with no process started
# around it: entering a namespace (ip netns exec) costs ~70 ms in the sandbox, as much as
# half an lvsh listing, and is part of neither tool.
timed() { # prints the seconds one run of "$@" takes
    ip netns exec "$ns" bash -c 't0=$EPOCHREALTIME; "$@" >/dev/null; t1=$EPOCHREALTIME
        echo "$t0 $t1" | awk "{ printf \"%.6f\n\", \$2 - \$1 }"' timed "$@"
}
# best of N runs of a command, in seconds; with `fresh`, each run in a new namespace
best() {
    local n=$1 prep=$2; shift 2
    local best=
    for _ in $(seq "$n"); do
        [ "$prep" = fresh ] && fresh
        local d
        d=$(timed "$@")
        # a namespace full of rules keeps the kernel's rate estimator busy: drop it at once
        [ "$prep" = fresh ] && ip netns del "$ns"
        best=$(echo "$d ${best:-999999}" | awk '{print ($1 < $2) ? $1 : $2}')
    done
    echo "$best"
}

# best of N alternating runs of two lvsh commands, so that the machine's drift weighs on both
# alike; prints "bestA bestB"
pair() {
    local n=$1 prep=$2 a=$3 b=$4
    local ba= bb= d
    for _ in $(seq "$n"); do
        [ "$prep" = fresh ] && fresh
        d=$(timed "$lvsh" -e "$a")
        [ "$prep" = fresh ] && { ip netns del "$ns"; fresh; }
        ba=$(echo "$d ${ba:-999999}" | awk '{print ($1 < $2) ? $1 : $2}')
        d=$(timed "$lvsh" -e "$b")
        [ "$prep" = fresh ] && ip netns del "$ns"
        bb=$(echo "$d ${bb:-999999}" | awk '{print ($1 < $2) ? $1 : $2}')
    done
    echo "$ba $bb"
}

rules="$work/rules"
t_ipvsadm_r=$(best 3 fresh sh -c "ipvsadm -R < $rules")
# lvsh's loads take a fraction of a second, where the sandbox's noise is largest: more runs
r=$(pair 7 fresh "lvs.restore('$rules')" "lvs.apply('$rules')")
t_lvsh_r=${r% *} t_apply_empty=${r#* }
fresh
run ipvsadm -R <"$rules"
t_ipvsadm_l=$(best 5 true ipvsadm -L -n)
# as the issue writes it: lvs.list{format="ipvsadm"} prints the listing, as ipvsadm does
t_lvsh_l=$(best 7 true "$lvsh" -e "lvs.list{format='ipvsadm'}")
# and handing the text to the script as a Lua string instead
t_lvsh_ls=$(best 7 true "$lvsh" -e "lvs.list{format='ipvsadm', print=false}")
t_lvsh_cli=$(best 7 true "$lvsh" ipvsadm -L -n)
# a listing inside an lvsh that is already running (the REPL, a checker): two listings in one
# run, less one
t_lvsh_l2=$(best 7 true "$lvsh" -e "lvs.list{format='ipvsadm'}; lvs.list{format='ipvsadm'}")
# a listing that reads everything (thresholds too), as a plan must
r=$(pair 7 true "lvs.list{format='ipvsadm', thresholds=true, print=false}" "assert(#lvs.apply('$rules') == 0)")
t_lvsh_full=${r% *} t_apply_same=${r#* }
r=$(pair 7 true "lvs.list{format='ipvsadm', thresholds=true}" "assert(#lvs.apply('$rules') == 0)")
t_lvsh_full_p=${r% *} t_apply_same2=${r#* }

# declarative apply: to an empty table, of an unchanged table, and of 1% changed weights
awk 'NR % 11 == 2 && NR <= 11 * 200 { sub(/-w [0-9]+$/, "-w 9") } { print }' "$rules" >"$work/rules2"
changed=$(run "$lvsh" -e "io.write(#lvs.apply('$work/rules2', {dry_run=true}))")
run "$lvsh" -e "lvs.apply('$work/rules2')"
[ "$(run "$lvsh" -e "io.write(#lvs.apply('$work/rules2'))")" = 0 ] || { echo "bench: a second apply changed something" >&2; exit 1; }

# the listings must be the same before their speed means anything
run ipvsadm -L -n >"$work/a"
run "$lvsh" -e "lvs.list{format='ipvsadm'}" >"$work/b"
cmp -s "$work/a" "$work/b" || { echo "bench: the listings differ" >&2; exit 1; }
lines=$(wc -l <"$rules")
[ "$(run ipvsadm -S -n | wc -l)" = "$lines" ] || { echo "bench: the table is incomplete" >&2; exit 1; }

printf '\n%-40s %10s %10s %8s\n' "22,000 rules (2,000 services x 10)" "ipvsadm" "lvsh" "ratio"
awk -v a="$t_ipvsadm_r" -v b="$t_lvsh_r" 'BEGIN { printf "%-40s %9.3fs %9.3fs %7.1fx\n", "restore (ipvsadm -R / lvs.restore)", a, b, a / b }'
awk -v a="$t_ipvsadm_l" -v b="$t_lvsh_l" 'BEGIN { printf "%-40s %9.3fs %9.3fs %7.1fx\n", "list (ipvsadm -L -n / lvs.list)", a, b, a / b }'
awk -v a="$t_ipvsadm_l" -v b="$t_lvsh_ls" 'BEGIN { printf "%-40s %9.3fs %9.3fs %7.1fx\n", "list (... / lvs.list, print=false)", a, b, a / b }'
awk -v a="$t_ipvsadm_l" -v b="$t_lvsh_cli" 'BEGIN { printf "%-40s %9.3fs %9.3fs %7.1fx\n", "list (ipvsadm -L -n / lvsh ipvsadm -L -n)", a, b, a / b }'
awk -v a="$t_ipvsadm_l" -v b="$t_lvsh_l" -v c="$t_lvsh_l2" 'BEGIN { d = c - b; if (d < 0.001) d = 0.001; printf "%-40s %9.3fs %9.3fs %7.1fx\n", "list, in a running lvsh (2 lists - 1)", a, d, a / d }'
awk -v a="$t_lvsh_r" -v b="$t_apply_empty" 'BEGIN { printf "%-40s %9.3fs %9.3fs %7.1fx\n", "apply to empty (lvs.restore / lvs.apply)", a, b, a / b }'
awk -v a="$t_lvsh_full" -v b="$t_apply_same" 'BEGIN { printf "%-40s %9.3fs %9.3fs %7.1fx\n", "unchanged (full lvs.list string / apply)", a, b, a / b }'
awk -v a="$t_lvsh_full_p" -v b="$t_apply_same2" 'BEGIN { printf "%-40s %9.3fs %9.3fs %7.1fx\n", "unchanged (full lvs.list printed / apply)", a, b, a / b }'
echo "changing 200 of 20,000 weights: lvs.apply planned $changed operation(s); an unchanged apply planned 0"
echo "(best of 3 ipvsadm loads, 5 ipvsadm listings and 7 runs of each lvsh command, each timed inside"
echo " its namespace; lvsh times include starting lvsh; targets: restore 15x, list 5x,"
echo " apply to empty as fast as restore, unchanged apply no slower than a listing)"
