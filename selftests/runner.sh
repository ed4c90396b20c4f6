#!/bin/sh
# The boot-test runner, executed inside the test VM by selftests/init.
#
# Reads from /proc/cmdline:
#   kms.mode=NAME    the MMU mode being tested (tdp, legacy or shadow);
#                    the kvm/kvm_amd parameters themselves are on the
#                    command line too
#   kms.tests=A,B    optional: only these tests (names as in the matrix)
#   kms.repeat=N     optional: run each test N times
# Runs every test of /tests/list (one per line: name, modes, timeout,
# args; written by the host from selftests/matrix) that applies to the
# mode, each under a time limit, and writes KTAP to /out/ktap and the
# console.  After each test the kernel log is drained into
# /out/logs/NAME.dmesg; a WARN, BUG, lockdep or KASAN report there fails
# the test even if it exited 0.
set -u
cmdline=$(cat /proc/cmdline)
arg() { for w in $cmdline; do case $w in "$1"=*) echo "${w#*=}"; return;; esac; done; }
mode=$(arg kms.mode); tests=$(arg kms.tests); repeat=$(arg kms.repeat)
: "${mode:=unknown}" "${repeat:=1}"
cd /tests/kvm || { echo "KMS-RUNNER: no /tests/kvm"; exit 1; }
mkdir -p /out/logs
out=/out/ktap
: > "$out"
emit() { echo "$*" | tee -a "$out"; }

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
done < /tests/list
plan=$(( $(wc -l < $todo) * repeat ))
emit "TAP version 13"
emit "# kms: mode=$mode kernel=$(uname -r) $(grep -oE 'kvm(_amd|_intel)?\.[^ ]*' /proc/cmdline | tr '\n' ' ')"
emit "1..$plan"
dmesg -c > /out/logs/boot.dmesg 2>&1
n=0
i=1
while [ "$i" -le "$repeat" ]; do
while read -r name limit retry args; do
	n=$((n + 1))
	[ "$args" = "-" ] && args=
	log=/out/logs/$(echo "$name" | tr / _)
	[ "$repeat" -gt 1 ] && log=$log.$i
	echo "KMS-RUNNER: start $name $args" > /dev/kmsg
	t0=$(cut -d' ' -f1 /proc/uptime)
	# shellcheck disable=SC2086
	timeout -s KILL "$limit" ./"${name##*/}" $args < /dev/null > "$log.log" 2>&1
	rc=$?
	first=
	if [ $rc -ne 0 ] && [ $rc -ne 4 ] && [ "$retry" = 1 ]; then
		first="rc=$rc: $(grep -E -m1 'Assertion|FAIL|error|Error' "$log.log" | cut -c1-100)"
		mv "$log.log" "$log.first.log"
		echo "KMS-RUNNER: retry $name" > /dev/kmsg
		# shellcheck disable=SC2086
		timeout -s KILL "$limit" ./"${name##*/}" $args < /dev/null > "$log.log" 2>&1
		rc=$?
	fi
	t1=$(cut -d' ' -f1 /proc/uptime)
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
	echo "KMS-RUNNER: end $name rc=$rc" > /dev/kmsg
	dmesg -c > "$log.dmesg" 2>&1
	splat=$(grep -E -m 3 -f /tests/splat-patterns "$log.dmesg" | tr '\n' ' ' | cut -c1-200)
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
dmesg -c > /out/logs/end.dmesg 2>&1
emit "# kms: end"
