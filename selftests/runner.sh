#!/bin/sh
# The boot-test runner, executed inside the test VM by selftests/init.
#
# Reads from /proc/cmdline:
#   kms.mode=NAME    the MMU mode being tested (tdp, legacy or shadow);
#                    the kvm/kvm_amd parameters themselves are on the
#                    command line too
#   kms.tests=A,B    optional: only these tests (names as in the matrix)
#   kms.repeat=N     optional: run each test N times
#   kms.bench=1      optional (scripts/bench): around each test, take the
#                    mmu_lock rows of /proc/lock_stat and count the MMU
#                    tracepoints of BENCH_EVENTS (tracefs); write both to
#                    /out/logs/NAME.bench as key=value lines
#   kms.bench_events=SYS/EVENT,...  optional: count these tracepoints too
#   kms.list=PATH    optional: the test list to run instead of /tests/list
#   kms.trace=SYS/EVENT[:FILTER],...  optional: record these tracepoints
#                    (FILTER: a tracefs event filter without spaces) during each
#                    test in a private tracefs instance (1 MiB per CPU, so
#                    the newest events only) and, when the test fails,
#                    keep the last 3000 lines in /out/logs/NAME.trace:
#                    what KVM did just before the failure
#   kms.trace_stop=SYS/EVENT,...  optional, with kms.trace: stop recording
#                    at the first of these events (a "traceoff" trigger),
#                    so that a failure that loops keeps how it began
#                    (scripts/boot-test --list puts it at /out/list)
# Runs every test of /tests/list (one per line: name, modes, timeout,
# args; written by the host from selftests/matrix) that applies to the
# mode, each under a time limit, and writes KTAP to /out/ktap and the
# console.  A name may carry a variant, "x86/foo_test#name": the binary
# is x86/foo_test, the KTAP line keeps the whole name (logs:
# x86_foo_test@name.log).  An argument "@MODULE.PARAM=VALUE" is not
# passed to the test: the module parameter is set
# (/sys/module/MODULE/parameters/PARAM) for the test's run and restored
# after it.  After each test the kernel log is drained into
# /out/logs/NAME.dmesg; a WARN, BUG, lockdep or KASAN report there fails
# the test even if it exited 0.
# The bare-metal kit (scripts/kit) runs it with KMS_TESTS (the selftests,
# default /tests), KMS_OUT (the results, default /out) and KMS_CMDLINE
# (the kms.* words, default /proc/cmdline).
set -u
TD=${KMS_TESTS:-/tests} OD=${KMS_OUT:-/out}
cmdline=${KMS_CMDLINE:-$(cat /proc/cmdline)}
arg() { for w in $cmdline; do case $w in "$1"=*) echo "${w#*=}"; return;; esac; done; }
mode=$(arg kms.mode); tests=$(arg kms.tests); repeat=$(arg kms.repeat)
bench=$(arg kms.bench); list=$(arg kms.list)
: "${mode:=unknown}" "${repeat:=1}" "${bench:=0}"
# kms.list names a file under /out (the host's --list); the default is
# the list installed with the selftests.
case $list in /out/*) list=$OD/${list#/out/} ;; '') list=$TD/list ;; esac
cd "$TD/kvm" || { echo "KMS-RUNNER: no $TD/kvm"; exit 1; }
mkdir -p "$OD/logs"
out=$OD/ktap
: > "$out"
emit() { echo "$*" | tee -a "$out"; }

# kms.bench=1 only.  The events are counted from the trace buffer (no
# hist triggers in the debug config): reading it back costs about 16k
# events a second under TCG, so the default events are the rare ones
# (shadow pages made, zapped, synced, split; MMU notifier unmaps; dirty
# ring resets); per-fault and per-SPTE events (fast_page_fault,
# kvm_mmu_set_spte, kvm_tdp_mmu_spte_changed, kvm_page_fault, ...: up to
# a million per test) only when kms.bench_events asks.  Events lost to a
# full buffer (64 MiB per CPU, some 600k events each) are trace.lost.
T=/sys/kernel/tracing
BENCH_EVENTS="kvmmmu/kvm_mmu_get_page kvmmmu/kvm_mmu_prepare_zap_page
	kvmmmu/kvm_mmu_zap_all_fast kvmmmu/kvm_mmu_sync_page kvmmmu/kvm_mmu_unsync_page
	kvmmmu/kvm_mmu_split_huge_page kvm/kvm_unmap_hva_range kvm/kvm_dirty_ring_reset
	kvm/kvm_dirty_ring_exit"
extra=$(arg kms.bench_events)
trace=$(arg kms.trace); trace_stop_at=$(arg kms.trace_stop)
TI=$T/instances/kms-trace
trace_start() {
	[ -n "$trace" ] || return 0
	mkdir -p $TI 2>/dev/null || { echo "KMS-RUNNER: no tracefs instance" > /dev/kmsg; trace=; return 0; }
	echo 0 > $TI/tracing_on
	echo 1024 > $TI/buffer_size_kb
	: > $TI/trace
	for e in $(echo "$trace" | tr , ' '); do
		case $e in *:*)
			echo "${e#*:}" > "$TI/events/${e%%:*}/filter" 2>/dev/null ||
				echo "KMS-RUNNER: bad filter $e" > /dev/kmsg
			e=${e%%:*} ;;
		esac
		echo 1 > "$TI/events/$e/enable" 2>/dev/null || echo "KMS-RUNNER: no event $e" > /dev/kmsg
	done
	for e in $(echo "$trace_stop_at" | tr , ' '); do
		echo traceoff > "$TI/events/$e/trigger" 2>/dev/null || echo "KMS-RUNNER: no trigger on $e" > /dev/kmsg
	done
	echo 1 > $TI/tracing_on
}
# trace_stop LOG RC
trace_stop() {
	[ -n "$trace" ] || return 0
	echo 0 > $TI/tracing_on
	[ "$2" -ne 0 ] && [ "$2" -ne 4 ] && tail -n 3000 $TI/trace > "$1.trace"
	for e in $(echo "$trace" | tr , ' '); do
		e=${e%%:*}; echo 0 > "$TI/events/$e/enable" 2>/dev/null; echo 0 > "$TI/events/$e/filter" 2>/dev/null
	done
	for e in $(echo "$trace_stop_at" | tr , ' '); do echo '!traceoff' > "$TI/events/$e/trigger" 2>/dev/null; done
}
[ -n "$extra" ] && BENCH_EVENTS="$BENCH_EVENTS $(echo "$extra" | tr , ' ')"
BENCH_BUF_KB=65536
# "write_acq write_con read_acq read_con" of kvm->mmu_lock, or "n/a".
mmu_lock_stat() {
	[ -r /proc/lock_stat ] || { echo n/a; return; }
	awk -v c='&(kvm)->mmu_lock' '
		$1 == c ":" || $1 == c "-W:" { wc += $3; wa += $9 }
		$1 == c "-R:" { rc += $3; ra += $9 }
		END { print wa + 0, wc + 0, ra + 0, rc + 0 }' /proc/lock_stat
}
bench_start() {
	lock0=$(mmu_lock_stat)
	[ -d $T/events ] || return 0
	echo 0 > $T/tracing_on
	: > $T/trace
	for e in $BENCH_EVENTS; do echo 1 > "$T/events/$e/enable" 2>/dev/null; done
	echo 1 > $T/tracing_on
}
bench_stop() {
	[ -d $T/events ] && echo 0 > $T/tracing_on
	lock1=$(mmu_lock_stat)
	{
		if [ "$lock0" = n/a ] || [ "$lock1" = n/a ]; then
			echo "lock_stat=n/a"
		else
			echo "$lock0 $lock1" | awk '{
				print "lock_stat.write_acq=" $5 - $1; print "lock_stat.write_con=" $6 - $2
				print "lock_stat.read_acq=" $7 - $3; print "lock_stat.read_con=" $8 - $4 }'
		fi
		if [ -d $T/events ]; then
			for e in $BENCH_EVENTS; do echo 0 > "$T/events/$e/enable" 2>/dev/null; done
			# An event line: "TASK-PID [CPU] FLAGS TIMESTAMP: EVENT: ...".
			awk -v evs="$BENCH_EVENTS" -v tr="$T" '
				!/^#/ { for (i = 1; i < NF; i++) if ($i ~ /^[0-9]+\.[0-9]+:$/) {
					e = $(i + 1); sub(/:$/, "", e); n[e]++; break } }
				END {
					k = split(evs, ev, /[ \t\n]+/)
					for (j = 1; j <= k; j++) {
						if (ev[j] == "" || done[ev[j]]++) continue
						split(ev[j], se, "/")
						if ((getline x < (tr "/events/" ev[j] "/enable")) <= 0) {
							print "trace." se[1] "." se[2] "=n/a"; continue }
						close(tr "/events/" ev[j] "/enable")
						print "trace." se[1] "." se[2] "=" n[se[2]] + 0
					}
				}' $T/trace
			cat $T/per_cpu/cpu*/stats 2>/dev/null |
				awk '$1 == "overrun:" { o += $2 } END { print "trace.lost=" o + 0 }'
			: > $T/trace
		else
			echo "trace=n/a"
		fi
	} > "$1.bench" 2>/dev/null
}
if [ "$bench" = 1 ] && [ -d $T/events ]; then
	echo 0 > $T/tracing_on
	echo $BENCH_BUF_KB > $T/buffer_size_kb 2>/dev/null
fi

# The tests for this mode (and kms.tests), in matrix order.
todo=/tmp/todo
: > $todo
while read -r name modes limit args; do
	case $name in \#*|"") continue ;; esac
	# "MODES/retry": a test known to be timing-sensitive under TCG gets a
	# second run when the first fails; the KTAP line says so.
	retry=0
	case $modes in */retry) retry=1; modes=${modes%/retry} ;; esac
	case ",$modes," in ",all,"|*",$mode,"*) ;; *) continue ;; esac
	if [ -n "$tests" ]; then
		case ",$tests," in *",$name,"*) ;; *) continue ;; esac
	fi
	echo "$name $limit $retry $args" >> $todo
done < "$list"
plan=$(( $(wc -l < $todo) * repeat ))
emit "TAP version 13"
emit "# kms: mode=$mode kernel=$(uname -r) $(echo "$cmdline" | tr ' ' '\n' | grep -E '^kvm(_amd|_intel)?\.' | tr '\n' ' ')"
emit "1..$plan"
dmesg -c > "$OD/logs/boot.dmesg" 2>&1
n=0
i=1
while [ "$i" -le "$repeat" ]; do
while read -r name limit retry args; do
	n=$((n + 1))
	[ "$args" = "-" ] && args=
	# "@module.param=value" arguments: set for this run, restored after.
	targs= restore=
	for a in $args; do
		case $a in
		@*.*=*)
			p=${a#@}; v=${p#*=}; p=/sys/module/${p%%=*}; p=${p%.*}/parameters/${p##*.}
			restore="$restore $p=$(cat "$p" 2>/dev/null)"
			echo "$v" > "$p" 2>/dev/null || echo "KMS-RUNNER: cannot set $p=$v" > /dev/kmsg ;;
		*) targs="$targs $a" ;;
		esac
	done
	bin=${name%%#*}; bin=./${bin##*/}
	log=$OD/logs/$(echo "$name" | tr '/#' '_@')
	[ "$repeat" -gt 1 ] && log=$log.$i
	echo "KMS-RUNNER: start $name $args" > /dev/kmsg
	[ "$bench" = 1 ] && bench_start
	t0=$(cut -d' ' -f1 /proc/uptime)
	trace_start
	# shellcheck disable=SC2086
	timeout -s KILL "$limit" "$bin" $targs < /dev/null > "$log.log" 2>&1
	rc=$?
	first=
	if [ $rc -ne 0 ] && [ $rc -ne 4 ] && [ "$retry" = 1 ]; then
		first="rc=$rc: $(grep -E -m1 'Assertion|FAIL|error|Error' "$log.log" | cut -c1-100)"
		mv "$log.log" "$log.first.log"
		echo "KMS-RUNNER: retry $name" > /dev/kmsg
		[ "$bench" = 1 ] && bench_start
		# shellcheck disable=SC2086
		timeout -s KILL "$limit" "$bin" $targs < /dev/null > "$log.log" 2>&1
		rc=$?
	fi
	trace_stop "$log" "$rc"
	for r in $restore; do echo "${r#*=}" > "${r%%=*}" 2>/dev/null; done
	t1=$(cut -d' ' -f1 /proc/uptime)
	[ "$bench" = 1 ] && bench_stop "$log"
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
	echo "KMS-RUNNER: end $name rc=$rc" > /dev/kmsg
	dmesg -c > "$log.dmesg" 2>&1
	splat=$(grep -E -m 3 -f "$TD/splat-patterns" "$log.dmesg" | tr '\n' ' ' | cut -c1-200)
	if [ -n "$splat" ]; then
		emit "not ok $n $name # SPLAT ${splat} (rc=$rc, ${secs}s)"
	elif [ $rc -eq 0 ] && [ -n "$first" ]; then
		emit "ok $n $name # FLAKY passed on retry; first run $first (${secs}s)"
	elif [ $rc -eq 0 ]; then
		emit "ok $n $name # ${secs}s"
	elif [ $rc -eq 4 ]; then
		why=$(grep -E -m1 -i 'skip|requirement|not supported' "$log.log" | cut -c1-160)
		emit "ok $n $name # SKIP ${why:-rc=4} (${secs}s)"
	elif [ $rc -eq 137 ]; then
		emit "not ok $n $name # TIMEOUT after ${limit}s"
	else
		emit "not ok $n $name # rc=$rc (${secs}s): $(grep -E -m1 'Assertion|FAIL|error|Error' "$log.log" | cut -c1-160)"
	fi
done < $todo
i=$((i + 1))
done
# Anything logged after the last test is checked by the host as well.
dmesg -c > "$OD/logs/end.dmesg" 2>&1
emit "# kms: end"
