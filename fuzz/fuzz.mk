# fuzz/fuzz.mk - libFuzzer targets (included by the Makefile).
#
#   make fuzz        build the targets and run each for FUZZ_TIME seconds
#   make check-fuzz  the smoke run `make check` does: the committed corpus,
#                    then a fixed number of executions per target
#   make fuzz-corpus regenerate the generated seeds under fuzz/corpus/
#
# Each fuzz/fuzz_NAME.c is one target, built with clang's
# -fsanitize=fuzzer,address,undefined against the sources of libkilncommon
# (and driver/stages.c and driver/eventlog_parse.c, and the worker's modules but its main.c), all
# compiled again with clang into build-fuzz/.
# A run reads the committed seeds in fuzz/corpus/NAME/ but writes what it
# finds to build-fuzz/corpus/NAME/ (libFuzzer adds new inputs to the first
# directory only) and crashes to build-fuzz/artifacts/NAME/.
# See docs/fuzzing.md.

FUZZ_BUILD := build-fuzz
FUZZ_CC ?= clang
FUZZ_TIME ?= 60
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS := -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -O1 -g $(FUZZ_SAN) -D_GNU_SOURCE \
	-Iinclude -Icommon -Idriver -Iworker -Iexecutor -Ipython -I$(BUILD)/gen $(PY_CFLAGS) -DKILN_PYTHON='"$(PY_BIN)"' \
	$(shell pkg-config --cflags libevent libprotobuf-c liblz4 inih jansson libxxhash 2>/dev/null)
# -max_len: bigger than every seed, small enough to keep runs fast
FUZZ_FLAGS := -max_len=65536 -timeout=20 -print_final_stats=1

FUZZ_NAMES := $(patsubst fuzz/fuzz_%.c,%,$(wildcard fuzz/fuzz_*.c))
FUZZ_BINS := $(patsubst %,$(FUZZ_BUILD)/fuzz_%,$(FUZZ_NAMES))
FUZZ_OBJ := $(patsubst %.c,$(FUZZ_BUILD)/obj/%.o,$(COMMON_SRC) driver/stages.c driver/eventlog_parse.c \
	$(filter-out worker/main.c,$(WORKER_SRC))) \
	$(FUZZ_BUILD)/obj/gen/kiln.pb-c.o

.PHONY: fuzz check-fuzz fuzz-tools fuzz-corpus

# Fails loudly when clang or its libFuzzer runtime is missing: CI installs
# both (scripts/deps.sh), so a skipped fuzz pass would only hide a problem.
fuzz-tools:
	@mkdir -p $(FUZZ_BUILD)
	@command -v $(FUZZ_CC) >/dev/null || { echo "fuzz: '$(FUZZ_CC)' not found; install clang and libclang-rt-dev (bash scripts/deps.sh)" >&2; exit 1; }
	@printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { return 0; }\n' >$(FUZZ_BUILD)/probe.c
	@$(FUZZ_CC) -fsanitize=fuzzer $(FUZZ_BUILD)/probe.c -o $(FUZZ_BUILD)/probe 2>$(FUZZ_BUILD)/probe.log || { cat $(FUZZ_BUILD)/probe.log >&2; echo "fuzz: $(FUZZ_CC) cannot link -fsanitize=fuzzer (libFuzzer missing); install libclang-rt-dev (bash scripts/deps.sh)" >&2; exit 1; }

$(FUZZ_BUILD)/obj/gen/kiln.pb-c.o: $(GEN_C) | fuzz-tools
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -Wno-error -c $< -o $@

# A 16-byte first buffer makes the line reader refill and grow on every input.
$(FUZZ_BUILD)/obj/common/split.o: FUZZ_DEFS := -DLINE_BUF_INITIAL=16u

$(FUZZ_BUILD)/obj/%.o: %.c $(GEN_H) $(wildcard include/*.h common/*.h driver/*.h worker/*.h executor/*.h) | fuzz-tools
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_DEFS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_BUILD)/obj/common/metrics.o: $(COMMIT_H)

$(FUZZ_BUILD)/libkilnfuzz.a: $(FUZZ_OBJ)
	rm -f $@; ar rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: fuzz/fuzz_%.c fuzz/fuzz.h $(FUZZ_BUILD)/libkilnfuzz.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_BUILD)/libkilnfuzz.a $(LIBS_COMMON) $(PY_LDFLAGS)

# check-fuzz is repeatable: the same commit runs the same inputs on any
# machine, however fast or loaded. Each target runs a fixed number of
# executions (FUZZ_RUNS_name, else FUZZ_SMOKE_RUNS; about 2-3 s each on a
# 2-core VM) from a fixed seed in a fresh directory, and nothing that depends
# on the clock or on addresses steers the mutations: -reload=0 (no rereading
# of the corpus directory every second), -rss_limit_mb=0 (no RSS thread,
# whose mallocs land inside inputs and make libFuzzer suspect leaks at
# random; -malloc_limit_mb still bounds any one allocation) and, where the
# kernel allows it, address randomization off (setarch -R).
FUZZ_SMOKE_RUNS ?= 20000
FUZZ_RUNS_block := 300000
FUZZ_RUNS_msg := 200000
FUZZ_RUNS_task := 200000
FUZZ_RUNS_runtime := 150000
FUZZ_RUNS_eventlog := 80000
FUZZ_RUNS_jobplan := 60000
FUZZ_RUNS_pycodec := 60000
FUZZ_RUNS_conf := 30000
FUZZ_RUNS_index := 30000
FUZZ_RUNS_split := 30000
FUZZ_REPEATABLE := -seed=1 -reload=0 -rss_limit_mb=0 -malloc_limit_mb=2048
FUZZ_NORAND := $(shell setarch -R true 2>/dev/null && echo setarch -R)

# One target's run: $(1) the name, $(2) the directory under build-fuzz/ that
# takes new inputs, $(3) the libFuzzer flags that bound and steer the run.
# On failure it names the input to replay and the command that repeats the
# whole run (for a leak found at exit, whose saved input is empty).
define fuzz_one
  t=$(1); mkdir -p $(FUZZ_BUILD)/$(2)/$$t $(FUZZ_BUILD)/artifacts/$$t; echo "== fuzz_$$t ($(3))"; \
  cmd="$(FUZZ_NORAND) $(FUZZ_BUILD)/fuzz_$$t $(FUZZ_FLAGS) $(3) -artifact_prefix=$(FUZZ_BUILD)/artifacts/$$t/ $(FUZZ_BUILD)/$(2)/$$t fuzz/corpus/$$t"; \
  $$cmd >$(FUZZ_BUILD)/fuzz_$$t.log 2>&1 || { tail -n 60 $(FUZZ_BUILD)/fuzz_$$t.log; \
    a=$$(ls -t $(FUZZ_BUILD)/artifacts/$$t/ 2>/dev/null | head -n 1); \
    echo "fuzz_$$t FAILED (log: $(FUZZ_BUILD)/fuzz_$$t.log)"; \
    if [ -n "$$a" ] && [ -s "$(FUZZ_BUILD)/artifacts/$$t/$$a" ]; then \
      echo "  replay the input: $(FUZZ_BUILD)/fuzz_$$t $(FUZZ_BUILD)/artifacts/$$t/$$a"; fi; \
    echo "  repeat the whole run: rm -rf $(FUZZ_BUILD)/$(2)/$$t; mkdir -p $(FUZZ_BUILD)/$(2)/$$t; $$cmd"; exit 1; }; \
  grep -E "^stat::(number_of_executed_units|average_exec_per_sec|new_units_added)" $(FUZZ_BUILD)/fuzz_$$t.log | tr '\n' ' '; echo
endef

# Keeps what it finds in build-fuzz/corpus/ for the next run.
fuzz: $(FUZZ_BINS)
	@set -e; $(foreach t,$(FUZZ_NAMES),$(call fuzz_one,$(t),corpus,-max_total_time=$(FUZZ_TIME) -rss_limit_mb=2048);)

check-fuzz: $(FUZZ_BINS)
	rm -rf $(FUZZ_BUILD)/smoke
	@set -e; $(foreach t,$(FUZZ_NAMES),$(call fuzz_one,$(t),smoke,-runs=$(or $(FUZZ_RUNS_$(t)),$(FUZZ_SMOKE_RUNS)) $(FUZZ_REPEATABLE));)

# The seeds that are not written by hand (the conf seeds are).
$(BUILD)/fuzz/mkcorpus: fuzz/mkcorpus.c $(BUILD)/libkilncommon.a $(BUILD)/libkilndriver.a $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Idriver -o $@ $< $(BUILD)/libkilndriver.a $(BUILD)/libkilncommon.a $(LIBS_COMMON)

fuzz-corpus: $(BUILD)/fuzz/mkcorpus all
	mkdir -p fuzz/corpus fuzz/corpus/pycodec
	$(BUILD)/fuzz/mkcorpus fuzz/corpus
	PYTHONPATH=$(BUILD)/python $(PY) fuzz/pycodec_seeds.py fuzz/corpus/pycodec
