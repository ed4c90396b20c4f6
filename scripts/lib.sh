# shellcheck shell=bash
# Common helpers for the series' scripts.  Source it; do not run it.
#
# Every script keeps its output under $KMS_CACHE (default
# ~/.cache/kvm-mmu-series) so a clean clone of this repo stays clean and a
# second run reuses downloads, kernel trees, build dirs and ccache.

set -euo pipefail

KMS_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KMS_CACHE=${KMS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kvm-mmu-series}
# The kernel git tree the series is applied to.  KERNEL_TREE selects a
# user's own tree; the default is the tree fetch-base creates.
KMS_OWN_TREE=$KMS_CACHE/linux
KERNEL_TREE=${KERNEL_TREE:-$KMS_OWN_TREE}
# The base worktree (detached at the base tag) is used for the unpatched
# kernel, so base and series builds never share a checkout.
# KMS_BASE_TREE may name an existing base worktree to share (several
# checkouts on one machine then share one base tree and its builds).
if [ -n "${KMS_BASE_TREE:-}" ]; then
	:
elif [ "$KERNEL_TREE" = "$KMS_OWN_TREE" ]; then
	KMS_BASE_TREE=$KMS_CACHE/trees/base
else
	KMS_BASE_TREE=$KMS_CACHE/trees/base-$(printf %s "$KERNEL_TREE" | md5sum | cut -c1-8)
fi
KMS_BUILD=$KMS_CACHE/build
KMS_RESULTS=${KMS_RESULTS:-$KMS_CACHE/results}
# Branch in $KERNEL_TREE that "apply" (re)creates from patches/.
KMS_APPLIED_BRANCH=${KMS_APPLIED_BRANCH:-kms/applied}

# shellcheck source=../BASE
. "$KMS_TOP/BASE"
KERNEL_BASE=${KERNEL_BASE:-$BASE_TAG}

export CCACHE_DIR=${CCACHE_DIR:-$KMS_CACHE/ccache}

JOBS=${JOBS:-$(nproc)}

# Machine-wide limits, shared by every checkout and every KMS_CACHE on
# this machine (the directory is outside KMS_CACHE on purpose): one
# kernel or selftests build at a time, and at most KMS_VM_SLOTS host
# threads of running test VMs (a thread=single VM needs one slot, a
# multi-threaded one a slot per vCPU).  Both wait; neither ever fails.
KMS_LOCKS=${KMS_LOCKS:-/tmp/kms-locks}
KMS_VM_SLOTS=${KMS_VM_SLOTS:-$(nproc)}

# with_build_lock CMD...: run CMD holding the machine's build lock.
with_build_lock() {
	mkdir -p "$KMS_LOCKS"
	flock "$KMS_LOCKS/build" "$@"
}

# with_vm_slots N CMD...: run CMD holding N of the machine's VM slots.
# Slots are taken in index order, so two waiters cannot deadlock.
with_vm_slots() {
	local n=$1 i fd q got; shift
	mkdir -p "$KMS_LOCKS"
	[ "$n" -le "$KMS_VM_SLOTS" ] || n=$KMS_VM_SLOTS
	# Wait in line: a waiter for two slots is not overtaken for ever by
	# waiters for one.
	exec {q}>"$KMS_LOCKS/vm.queue"
	flock "$q"
	while :; do
		got=()
		for ((i = 0; i < KMS_VM_SLOTS && ${#got[@]} < n; i++)); do
			exec {fd}>"$KMS_LOCKS/vm.$i"
			if flock -n "$fd"; then got+=("$fd"); else exec {fd}>&-; fi
		done
		[ ${#got[@]} -ge "$n" ] && break
		for fd in "${got[@]}"; do exec {fd}>&-; done
		sleep 3
	done
	exec {q}>&-
	local rc=0
	"$@" || rc=$?
	for fd in "${got[@]}"; do exec {fd}>&-; done
	return $rc
}

kms_log()  { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die()      { printf '%s: error: %s\n' "${0##*/}" "$*" >&2; exit 1; }

# need TOOL PACKAGE: fail with the Debian package to install.
need() {
	command -v "$1" >/dev/null 2>&1 ||
		die "'$1' not found: install the Debian package '$2' (apt-get install $2), or run scripts/install-deps"
}

# The mirror URI configured for this machine's Debian suites.  Never
# hard-code a host: read the one apt already uses.
debian_mirror() {
	local f uri=
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		uri=$(awk '/^URIs:/ && $2 ~ /\/debian\/?$/ {print $2; exit}' "$f")
		[ -n "$uri" ] && break
	done
	if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
		uri=$(awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' /etc/apt/sources.list)
	fi
	[ -n "$uri" ] || die "cannot find a Debian mirror URI in /etc/apt/sources.list{,.d}"
	echo "${uri%/}"
}

# apt_private SUITE...: print apt options for a private configuration that
# adds SUITE(s) on the machine's mirror without touching system state.
# The lists are refreshed at most once a day.
apt_private() {
	local dir=$KMS_CACHE/apt mirror s
	mirror=$(debian_mirror)
	mkdir -p "$dir/lists/partial" "$dir/archives/partial"
	: > "$dir/sources.list.new"
	for s in "$@"; do
		echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $s main" >> "$dir/sources.list.new"
		echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $s main" >> "$dir/sources.list.new"
	done
	local opts="-o Dir::Etc::sourcelist=$dir/sources.list -o Dir::Etc::sourceparts=- -o Dir::State::Lists=$dir/lists -o Dir::Cache::archives=$dir/archives -o APT::Get::List-Cleanup=0 -o Debug::NoLocking=1 -o APT::Sandbox::User=root"
	if ! cmp -s "$dir/sources.list.new" "$dir/sources.list" ||
	   [ -z "$(find "$dir/lists" -maxdepth 1 -name '*Packages*' -mtime -1 2>/dev/null)" ]; then
		mv "$dir/sources.list.new" "$dir/sources.list"
		# shellcheck disable=SC2086
		apt-get $opts -q update >&2 || die "apt-get update for suites '$*' failed"
	fi
	echo "$opts"
}

# git_clean TREE: true if TREE has no staged, unstaged or untracked changes
# and no am/rebase/merge in progress.
git_clean() {
	local t=$1 gd
	[ -z "$(git -C "$t" status --porcelain --untracked-files=normal)" ] || return 1
	gd=$(git -C "$t" rev-parse --git-dir)
	case $gd in /*) ;; *) gd=$t/$gd ;; esac
	[ ! -d "$gd/rebase-apply" ] && [ ! -d "$gd/rebase-merge" ] && [ ! -f "$gd/MERGE_HEAD" ]
}

# series_patches: the patch files listed in series, in order.
series_patches() {
	sed -e 's/#.*//' -e 's/[[:space:]].*//' "$KMS_TOP/series" | grep -v '^$' || true
}

# tree_tests TREE: the x86 KVM selftest programs TREE builds, one a line,
# in Makefile.kvm order.  Without the calling make's flags: under an outer
# make (MAKELEVEL > 0) -C prints "make[N]: Entering directory" lines on
# stdout, which would read as test names.
tree_tests() {
	MAKEFLAGS= MFLAGS= MAKELEVEL= make -s --no-print-directory -C "$1/tools/testing/selftests/kvm" ARCH=x86 -f Makefile.kvm -f - kms-list 2>/dev/null <<'MK'
kms-list:
	@printf '%s\n' $(TEST_GEN_PROGS_x86) $(TEST_PROGS_x86)
MK
}

# own_tests SDIR: the selftests the series adds (those installed in SDIR,
# the series' selftests, that the base's Makefile.kvm does not build),
# comma-separated.
own_tests() {
	comm -13 <(tree_tests "$KMS_BASE_TREE" | sort) <(sort "$1/all-tests") | paste -sd, -
}

# series_topics: "name<TAB>title" of each topic section of series, in order.
# A section starts with a line "# == name: Title ==".
series_topics() {
	sed -n 's/^# == \([a-z0-9-]*\): \(.*\) ==$/\1\t\2/p' "$KMS_TOP/series"
}

# topic_patches NAME: the patch files of one topic section, in order.
topic_patches() {
	awk -v t="$1" '
		/^# == [a-z0-9-]+: .* ==$/ { cur = $3; sub(/:$/, "", cur); next }
		/^[ \t]*(#|$)/ { next }
		cur == t { print $1 }' "$KMS_TOP/series"
}

# kvm_selftests SRC O [INSTALL]: build the KVM selftests of tree SRC
# (static, -Werror) with objects under O/kselftest and the uapi headers
# of O (a configured kernel build dir).  With INSTALL, install them there
# with the runner and the in-VM list generated from selftests/matrix.
kvm_selftests() {
	local src=$1 o=$2 inst=${3:-}
	local mk=(make -C "$src/tools/testing/selftests" O="$o" TARGETS=kvm CC="ccache gcc"
		  EXTRA_CFLAGS=-Werror LDFLAGS="-static -pthread -no-pie")
	with_build_lock make -C "$src" O="$o" -s headers || return 1
	with_build_lock "${mk[@]}" -j"$JOBS" || return 1
	[ -n "$inst" ] || return 0
	rm -rf "$inst.tmp"
	"${mk[@]}" INSTALL_PATH="$inst.tmp" install || return 1
	rm -rf "$inst" && mv "$inst.tmp" "$inst" || return 1
	tree_tests "$src" > "$inst/all-tests" && [ -s "$inst/all-tests" ] || return 1
	"$KMS_TOP/scripts/gen-list" "$inst/all-tests" > "$inst/list" || return 1
	cp "$KMS_TOP/selftests/runner.sh" "$KMS_TOP/selftests/splat-patterns" "$inst/"
}

# usage: print the comment block at the top of the calling script.
usage() { sed -n '2,/^\. /p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; }

# scratch_tree DIR REF: a detached worktree of $KERNEL_TREE at REF in DIR,
# created or, if it exists, forced back to REF (it holds only the
# scripts' own scratch work: any am, bisect or local change there is
# thrown away; its .kms-* build directories are kept).
scratch_tree() {
	local w=$1 ref=$2
	if [ -e "$w" ]; then
		git -C "$w" am --abort >/dev/null 2>&1 || true
		git -C "$w" bisect reset >/dev/null 2>&1 || true
		git -C "$w" checkout -q --detach -f "$ref" && git -C "$w" clean -q -fdx -e '/.kms-*'
	else
		git -C "$KERNEL_TREE" worktree prune
		git -C "$KERNEL_TREE" worktree add -q --detach "$w" "$ref"
	fi
}

# The patterns of a kernel log line that fails a boot test.
KMS_SPLAT=$KMS_TOP/selftests/splat-patterns
