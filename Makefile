# Front door of the KVM x86 MMU series tree.  Every target calls one
# script in scripts/; "make help" lists them.  Variables:
#   KERNEL_TREE=/path   use your own kernel git tree (default: the Debian
#                       base under ~/.cache/kvm-mmu-series/linux)
#   KERNEL_BASE=ref     the base commit in that tree (default v7.3.4)
#   MODES=tdp,legacy,shadow   CONFIG=test|debug   TESTS=a,b   REPEAT=N
#   TOPIC=name (mail; bench: a comma list)   TEST=name MODE=tdp (bisect)
#   BRANCH=name         branch to export from (default: checked out)
#   DURATION=N          stress: scale the stress tests' rounds by N
#   REV=N (mail)        MBOX=file (apply: a posted series; trailers: replies)
#   ACCEL=tcg|kvm|auto  the test VMs' accelerator (scripts/boot-test)

MODES  ?= tdp,legacy,shadow
# run (the series' own tests) uses the debug kernel; test (the whole
# matrix, base and patched) the test kernel unless CONFIG= says otherwise.
CONFIG ?= debug
TEST_CONFIG ?= $(if $(filter command line,$(origin CONFIG)),$(CONFIG),test)
REPEAT ?= 1
S := scripts
# Upstream selftests that exercise the MMU paths the series changes and
# finish in seconds under TCG (about 5 minutes per VM in all with the
# debug config).  selftests/ci-excluded lists those left out, and why.
SMOKE_TESTS := dirty_log_test,set_memory_region_test,memslot_modification_stress_test,kvm_page_table_test,demand_paging_test,dirty_log_perf_test,access_tracking_perf_test,x86/dirty_log_page_splitting_test,x86/nested_dirty_log_test,x86/nested_tdp_fault_test,x86/nested_invalid_cr3_test,x86/nx_huge_pages_test.sh,x86/hyperv_tlb_flush,x86/state_test,x86/smm_test,x86/mmu_counters_test

.PHONY: help deps base apply applied accel apply-all export build run test smoke summary check check-ci mail trailers bisect bench bench-ci flaky soak ci-soak litmus stress mutants kcsan kit selftest-scripts

help:
	@sed -n 's/^\([a-z-]*\):.*## \(.*\)/  make \1\t\2/p' $(MAKEFILE_LIST) | expand -t 24

deps: ## install the Debian packages the scripts need
	$(S)/install-deps

base: deps ## fetch Debian's linux-source-7.3 into a git tree at the base (or check KERNEL_TREE)
	$(S)/fetch-base

apply: base ## apply the series to the kernel tree with git am (branch kms/applied); MBOX=file: a posted series, with b4
	$(S)/apply $(if $(MBOX),--mbox $(MBOX))

# What the jobs below apply first: the series, unless kms/applied holds
# a posted series that "make apply MBOX=" left there (kept until the next
# "make apply").
applied: base
	$(S)/apply --keep-mbox $(if $(MBOX),--mbox $(MBOX))

# With ACCEL= given, the VM jobs first check that boot-test accepts it
# here (ACCEL=kvm on a host without nested hardware KVM stops before any
# build, saying why).
comma := ,
accel:
	@$(if $(ACCEL),$(S)/boot-test --dry-run --mode $(firstword $(subst $(comma), ,$(MODES))) >/dev/null)

apply-all: apply ## also apply it with quilt push -a and git quiltimport and compare
	$(S)/apply --method quilt
	$(S)/apply --method quiltimport

export: ## regenerate patches/ and series from a kernel branch (BRANCH=)
	$(S)/export $(if $(BRANCH),--branch $(BRANCH))

build: ## build the patched kernel (CONFIG=test|debug) and the selftests
	$(S)/build --tree series --config $(CONFIG)
	$(S)/build-selftests --tree series

run: accel applied ## THE MAIN JOB: apply, build, boot the patched kernel, run the series' own selftests in every mode
	$(S)/test --kernels series --config $(CONFIG) --modes $(MODES) --own --repeat $(REPEAT)

test: accel applied ## the full matrix on the base and the patched kernel, every mode, side by side
	$(S)/test --kernels base,series --config $(TEST_CONFIG) --modes $(MODES) $(if $(TESTS),--tests $(TESTS)) --repeat $(REPEAT)

smoke: accel applied ## the MMU-relevant upstream selftests (SMOKE_TESTS) on base and patched kernels, every mode
	$(S)/test --kernels base,series --config $(TEST_CONFIG) --modes $(MODES) --tests $(SMOKE_TESTS) --label smoke

flaky: accel applied ## pass counts of TEST in MODE on base and patched, side by side (RUNS=20, RECORD=1 adds them to selftests/intermittent)
	$(S)/flaky $(TEST) $(or $(MODE),shadow) --runs $(or $(RUNS),20) --config $(TEST_CONFIG) $(if $(RECORD),--record) $(if $(METRIC),--metric '$(METRIC)')

ci-soak: ## run .ci/run RUNS=10 times, each from a fresh clone of HEAD (COLD=1: each with an empty cache; MUTANT=name: must turn red)
	$(S)/ci-soak --runs $(or $(RUNS),10) $(if $(COLD),--cold) $(if $(MUTANT),--mutant $(MUTANT))

soak: accel applied ## is a VM configuration stable? BOOTS boots of KERNEL=base|series, CONFIG=, TCG=multi|single, SMP=2, the smoke set
	$(S)/build --tree $(or $(KERNEL),base) --config $(or $(SOAK_CONFIG),debug) >/dev/null
	$(S)/build-selftests --tree series
	$(S)/rig-soak --kernel $(or $(KERNEL),base) --config $(or $(SOAK_CONFIG),debug) --tcg $(or $(TCG),multi) --smp $(or $(SMP),2) --boots $(or $(BOOTS),30) $(if $(call given,MODES),--modes $(MODES)) $(if $(TESTS),--tests $(TESTS)) $(if $(LABEL),--label $(LABEL))

summary: ## print the summary of the last test run again
	$(S)/summarize $${KMS_RESULTS:-$$HOME/.cache/kvm-mmu-series/results}/latest

check: applied ## per-patch gates (build x4 configs, W=1, sparse, cocci, checkpatch, kvm-x86 lint, selftests, kdoc)
	$(S)/check

check-ci: applied selftest-scripts ## the gates that fit CI: lint, checkpatch, build, selftests, kdoc per patch; sparse on the series
	$(S)/check --ci

litmus: base ## the series' ordering arguments (litmus/) under the base tree's kernel memory model; builds herd7 if needed
	$(S)/litmus

mail: base ## b4-made posting of TOPIC=name [REV=N: vN, range-diff to vN-1] (needs your git user.name/email)
	$(S)/mail $(TOPIC) $(if $(REV),--rev $(REV))

trailers: base ## fold Reviewed-by/Tested-by/Acked-by from an mbox of replies (MBOX=file) into patches/ (via a kernel branch + export)
	$(S)/trailers $(MBOX)

bisect: applied ## first patch under which TEST=name fails in MODE=tdp|legacy|shadow
	$(S)/bisect $(TEST) $(or $(MODE),tdp) --config $(or $(BISECT_CONFIG),test)

# bench: REPEAT and MODES only when given (the script's defaults: 3 runs,
# every mode).
given = $(filter command line environment,$(origin $(1)))
bench: accel applied ## base vs patched counters per topic (TOPIC=wrprot MODES= REPEAT=3): tables, bench.csv, bench.svg
	$(S)/bench $(if $(TOPIC),--topics $(TOPIC)) $(if $(call given,MODES),--modes $(MODES)) $(if $(call given,REPEAT),--repeat $(REPEAT))

bench-ci: accel applied ## the quick benchmark (tdp, once) checked against the expectations of selftests/bench
	$(S)/bench --quick --check

# stress, mutants and kcsan: vCPUs on host threads of their own (QEMU
# MTTCG, 2 vCPUs; a VM needs both of the machine's VM slots).  CONFIG,
# MODES and REPEAT only when given (the scripts' defaults: debug, every
# mode; stress once, mutants 3 times).
stress: accel applied ## race/concurrency tests, base vs patched, every mode, vCPUs in parallel (REPEAT= DURATION= MODES= TESTS= CONFIG=)
	$(S)/stress $(if $(call given,CONFIG),--config $(CONFIG)) $(if $(call given,MODES),--modes $(MODES)) $(if $(TESTS),--tests $(TESTS)) $(if $(call given,REPEAT),--repeat $(REPEAT)) $(if $(DURATION),--duration $(DURATION))

mutants: accel applied ## build each mutants/*.patch on the series and run the test that must catch it (REPEAT=3 MUTANTS=a,b CONFIG=)
	$(S)/build-selftests --tree series
	$(S)/mutants $(if $(call given,CONFIG),--config $(CONFIG)) $(if $(call given,REPEAT),--repeat $(REPEAT)) $(if $(MUTANTS),--mutants $(MUTANTS))

kcsan: accel applied ## KCSAN kernels (configs/kcsan.config), base vs patched: own tests + smoke set, report counts and new races (MODES= TESTS=)
	$(S)/kcsan $(if $(call given,MODES),--modes $(MODES)) $(if $(TESTS),--tests $(TESTS)) $(if $(call given,REPEAT),--repeat $(REPEAT))

kit: applied ## tarball to run the series' selftests as root on a machine booted with the patched kernel (bare metal)
	$(S)/kit

selftest-scripts: ## unit checks of the scripts (boot-test's KVM/TCG choice on fake hosts, --dry-run)
	$(S)/selftest-scripts
