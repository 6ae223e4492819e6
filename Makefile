# kiln - build, test and demo.
#
#   make            build daemons, CLI, examples (into build/)
#   make check      unit + integration tests, then the same under ASan+UBSan,
#                   then a short run of every fuzz target (check-fuzz)
#   make fuzz       run every fuzz target for FUZZ_TIME seconds (fuzz/fuzz.mk)
#   make demo       run the demo on an embedded local[2] cluster
#   make bench      run the benchmarks (figures go to docs/performance.md by hand)
#   make install    install under $(PREFIX) (default /usr/local)
#
# `make check-fast` skips the sanitizer pass. BUILD and SAN select the
# output directory and sanitizer flags; check-asan sets both.

BUILD ?= build
SAN ?=
PREFIX ?= /usr/local
CC ?= cc

PKGS := libevent libprotobuf-c liblz4 check inih jansson libxxhash libcrypto zlib
DEPS_OK := $(shell bash scripts/deps.sh >&2 && echo ok)

# Python: always Debian's interpreter, never the first python3 on PATH
# (a pyenv build here). The worker embeds it; the package's extension is
# built for it; `kiln submit job.py` runs it. After DEPS_OK, so that
# python3-dev is installed when python3-config runs.
PY := /usr/bin/python3
PY_BIN := $(shell readlink -f $(PY))
PY_CFLAGS := $(shell /usr/bin/python3-config --includes 2>/dev/null)
PY_LDFLAGS := $(shell /usr/bin/python3-config --embed --ldflags 2>/dev/null)
PY_EXT := $(shell /usr/bin/python3-config --extension-suffix 2>/dev/null)
# where make install puts the package: the system python3's own site dir
# (Debian's own /usr/lib/python3/dist-packages for PREFIX=/usr, as a .deb has it)
PY_SITE ?= $(if $(filter /usr,$(PREFIX)),/usr/lib/python3/dist-packages,$(shell $(PY) -c 'import sysconfig; print(sysconfig.get_path("purelib"))' 2>/dev/null))
PY_VERSION := $(shell $(PY) -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>/dev/null)


WARN := -Wall -Wextra -Werror -Wno-unused-parameter -Wno-format-truncation
OPT := -O2 -g
ifeq ($(SAN),1)
  OPT := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
endif
CFLAGS_ALL := -std=gnu11 $(WARN) $(OPT) -D_GNU_SOURCE -Iinclude -Icommon -I$(BUILD)/gen -Iworker -Iexecutor -Ipython \
	$(PY_CFLAGS) -DKILN_PYTHON='"$(PY_BIN)"' \
	$(shell pkg-config --cflags libevent libprotobuf-c liblz4 inih jansson libxxhash zlib 2>/dev/null) $(CFLAGS)
LIBS_COMMON := $(shell pkg-config --libs libevent libprotobuf-c liblz4 inih jansson libxxhash libcrypto zlib 2>/dev/null) -ldl -lm
LDFLAGS_ALL := $(OPT) $(LDFLAGS)

GEN_C := $(BUILD)/gen/kiln.pb-c.c
GEN_H := $(BUILD)/gen/kiln.pb-c.h
# the commit the programs were built from (kiln_build_info in /metrics),
# rewritten only when it changed; "unknown" outside a git checkout
KILN_COMMIT := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
COMMIT_H := $(BUILD)/gen/build_commit.h

COMMON_SRC := $(wildcard common/*.c)
DRIVER_SRC := $(wildcard driver/*.c)
PYRT_SRC := python/codec.c python/records.c
WORKER_SRC := $(wildcard worker/*.c) $(wildcard executor/*.c) $(PYRT_SRC)
CLIENT_SRC := $(filter-out client/kiln.c,$(wildcard client/*.c))

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

COMMON_OBJ := $(call obj,$(COMMON_SRC)) $(BUILD)/obj/gen/kiln.pb-c.o
DRIVER_OBJ := $(call obj,$(DRIVER_SRC))
WORKER_OBJ := $(call obj,$(WORKER_SRC))
CLIENT_OBJ := $(call obj,$(CLIENT_SRC))

EXAMPLES := $(patsubst examples/%.c,$(BUILD)/examples/%.so,$(wildcard examples/*.c))
TEST_APPS := $(patsubst tests/apps/%.c,$(BUILD)/tests/apps/%.so,$(wildcard tests/apps/*.c))
UNIT_TESTS := $(patsubst tests/unit/%.c,$(BUILD)/tests/unit/%,$(wildcard tests/unit/test_*.c))
BENCH_APPS := $(patsubst bench/%.c,$(BUILD)/bench/%.so,$(wildcard bench/*.c))
TEST_TOOLS := $(patsubst tests/tools/%.c,$(BUILD)/tests/tools/%,$(wildcard tests/tools/*.c))

BINS := $(BUILD)/kiln-driver $(BUILD)/kiln-worker $(BUILD)/kiln

# The Python package, built in the tree: build/python/kiln holds the .py
# files, the extension kiln._kiln and _build.py (what it was built for).
# Its C objects are position-independent copies of the client's.
PYPKG := $(BUILD)/python/kiln
PY_FILES := $(patsubst python/kiln/%,$(PYPKG)/%,$(wildcard python/kiln/*.py))
# the DataFrame and SQL layer, kiln.sql (python/kiln/sql/)
PY_SQL_FILES := $(patsubst python/kiln/%,$(PYPKG)/%,$(wildcard python/kiln/sql/*.py))
PYEXT_SRC := $(COMMON_SRC) $(CLIENT_SRC) python/codec.c python/records.c python/_kiln.c
PYEXT_OBJ := $(patsubst %.c,$(BUILD)/pic/%.o,$(PYEXT_SRC)) $(BUILD)/pic/gen/kiln.pb-c.o
PYEXT := $(PYPKG)/_kiln$(PY_EXT)
PYTHON_PKG := $(PY_FILES) $(PY_SQL_FILES) $(PYEXT) $(PYPKG)/_build.py $(BUILD)/python-compat/pyspark/__init__.py

.PHONY: all check check-fast check-asan check-package check-lane-plain check-lane-asan check-unit check-integration check-python demo bench bench-instructions clean install uninstall deb deps
all: $(BINS) $(PYTHON_PKG) $(EXAMPLES) $(TEST_APPS) $(BENCH_APPS) $(UNIT_TESTS) $(TEST_TOOLS)

deps:
	bash scripts/deps.sh

# written while the Makefile is read (not by a rule that always runs, which
# would rebuild everything that links metrics.o on every make)
$(shell mkdir -p $(BUILD)/gen && echo '#define KILN_COMMIT "$(KILN_COMMIT)"' > $(COMMIT_H).tmp && \
	{ cmp -s $(COMMIT_H).tmp $(COMMIT_H) || mv $(COMMIT_H).tmp $(COMMIT_H); }; rm -f $(COMMIT_H).tmp)
$(BUILD)/obj/common/metrics.o $(BUILD)/pic/common/metrics.o: $(COMMIT_H)

$(GEN_C) $(GEN_H): proto/kiln.proto
	@mkdir -p $(BUILD)/gen
	protoc-c --proto_path=proto --c_out=$(BUILD)/gen proto/kiln.proto

$(BUILD)/obj/gen/kiln.pb-c.o: $(GEN_C)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Wno-error -c $< -o $@

$(BUILD)/obj/%.o: %.c $(GEN_H) $(wildcard include/*.h common/*.h driver/*.h worker/*.h executor/*.h client/*.h python/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

$(BUILD)/libkilncommon.a: $(COMMON_OBJ)
	rm -f $@; ar rcs $@ $^

$(BUILD)/kiln-driver: $(DRIVER_OBJ) $(BUILD)/libkilncommon.a
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS_COMMON)

# The worker and the CLI load user libraries that call back into kiln's
# API, so they export their symbols (-rdynamic) and keep all of libkiln.
$(BUILD)/kiln-worker: $(WORKER_OBJ) $(BUILD)/libkilncommon.a
	$(CC) $(LDFLAGS_ALL) -rdynamic -o $@ $(WORKER_OBJ) -Wl,--whole-archive $(BUILD)/libkilncommon.a -Wl,--no-whole-archive $(LIBS_COMMON) $(PY_LDFLAGS)

$(BUILD)/kiln: $(BUILD)/obj/client/kiln.o $(CLIENT_OBJ) $(BUILD)/libkilncommon.a
	$(CC) $(LDFLAGS_ALL) -rdynamic -o $@ $(BUILD)/obj/client/kiln.o $(CLIENT_OBJ) -Wl,--whole-archive $(BUILD)/libkilncommon.a -Wl,--no-whole-archive $(LIBS_COMMON)

$(BUILD)/pic/%.o: %.c $(GEN_H) $(wildcard include/*.h common/*.h client/*.h python/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Iclient -fPIC -fvisibility=hidden -c $< -o $@
$(BUILD)/pic/gen/kiln.pb-c.o: $(GEN_C)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -fPIC -fvisibility=hidden -Wno-error -c $< -o $@
$(PYEXT): $(PYEXT_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -shared -o $@ $^ $(LIBS_COMMON)
$(PYPKG)/%.py: python/kiln/%.py
	@mkdir -p $(dir $@)
	cp $< $@
# The pyspark compat bootstrap: on the script's path under `kiln submit`
# only (next to the binary in the tree, $(PREFIX)/lib/kiln when installed).
$(BUILD)/python-compat/pyspark/__init__.py: python/compat/pyspark/__init__.py
	@mkdir -p $(dir $@)
	cp $< $@
# KILN_BINDIR: where the daemons are (the tree's build dir, or the
# installed bin dir: make install writes its own _build.py).
$(PYPKG)/_build.py: Makefile
	@mkdir -p $(dir $@)
	printf '# written by make: what this package was built for\npython = "%s"\npython_version = "%s"\nbindir = "%s"\n' \
		"$(PY_BIN)" "$(PY_VERSION)" "$(abspath $(BUILD))" > $@

# Applications build exactly as a user's would: no library to link.
APP_CFLAGS := -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -O2 -g -fPIC -shared -Iinclude
$(BUILD)/examples/%.so: examples/%.c include/kiln.h
	@mkdir -p $(dir $@)
	$(CC) $(APP_CFLAGS) $< -o $@
$(BUILD)/tests/apps/%.so: tests/apps/%.c include/kiln.h
	@mkdir -p $(dir $@)
	$(CC) $(APP_CFLAGS) $< -o $@
$(BUILD)/bench/%.so: bench/%.c include/kiln.h
	@mkdir -p $(dir $@)
	$(CC) $(APP_CFLAGS) $< -o $@

# Unit tests link what they use from the driver's and worker's modules
# (archives without main.o) and common.
$(BUILD)/libkilndriver.a: $(filter-out $(BUILD)/obj/driver/main.o,$(DRIVER_OBJ))
	rm -f $@; ar rcs $@ $^
$(BUILD)/libkilnworker.a: $(filter-out $(BUILD)/obj/worker/main.o,$(WORKER_OBJ))
	rm -f $@; ar rcs $@ $^
$(BUILD)/tests/unit/%: tests/unit/%.c $(BUILD)/libkilncommon.a $(BUILD)/libkilndriver.a $(BUILD)/libkilnworker.a $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Idriver -Iworker -o $@ $< $(BUILD)/libkilndriver.a $(BUILD)/libkilnworker.a $(BUILD)/libkilncommon.a $(shell pkg-config --libs check) $(LIBS_COMMON) $(PY_LDFLAGS)

# The Python codec's test embeds CPython, so it builds from its sources with
# PY_CFLAGS/PY_LDFLAGS instead of the generic rule above (an explicit rule
# wins over the pattern).
$(BUILD)/tests/unit/test_pycodec: tests/unit/test_pycodec.c python/codec.c python/codec.h common/util.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(PY_CFLAGS) -Ipython -o $@ tests/unit/test_pycodec.c python/codec.c $(shell pkg-config --libs check) $(PY_LDFLAGS)

# Test tools: programs the integration tests run (a hostile client, a
# simulator of many workers).
$(BUILD)/tests/tools/%: tests/tools/%.c $(BUILD)/libkilncommon.a $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< $(BUILD)/libkilncommon.a $(LIBS_COMMON)

# test_pycodec runs CPython, which by design leaves allocations behind at
# exit; under ASan, LeakSanitizer would fail the test on them. Its
# suppressions file ignores leaks allocated inside libpython only, so leaks
# of the codec's own buffers still fail it (LSAN_OPTIONS is inert without ASan).
PY_LSAN := suppressions=$(CURDIR)/tests/unit/lsan-python.supp:print_suppressions=0
# Check kills a test case that outlives its timeout (4 s unless the case sets
# one). A timeout guards against a hang, not a slow machine: ten times each
# leaves room for the sanitizer build on a loaded 2-core machine.
check-unit: $(UNIT_TESTS)
	@set -e; export CK_TIMEOUT_MULTIPLIER=$${CK_TIMEOUT_MULTIPLIER:-10}; for t in $(UNIT_TESTS); do echo "== $$t"; \
	  case $$t in */test_pycodec) LSAN_OPTIONS="$${LSAN_OPTIONS:+$$LSAN_OPTIONS:}$(PY_LSAN)" $$t;; *) $$t;; esac; done

# SPILL_MB: the size of the spilling tests' input (200 MB as the shuffle
# issue asks; the sanitizer pass uses less to stay within CI's time).
SPILL_MB ?= 200
# SOAK_JOBS: lost.sh's pairs of jobs with a fault each (the faults take
# turns, three kinds; the sanitizer pass runs each kind three times).
SOAK_JOBS ?= 20
check-integration: all
	KILN_BUILD=$(BUILD) bash tests/integration/run.sh
	KILN_BUILD=$(BUILD) bash tests/integration/plan.sh
	KILN_BUILD=$(BUILD) KILN_SAN=$(SAN) KILN_SPILL_MB=$(SPILL_MB) bash tests/integration/shuffle.sh
	KILN_BUILD=$(BUILD) KILN_SOAK_JOBS=$(SOAK_JOBS) bash tests/integration/lost.sh
	KILN_BUILD=$(BUILD) bash tests/integration/netns.sh
	KILN_BUILD=$(BUILD) bash tests/integration/auth.sh
	KILN_BUILD=$(BUILD) bash tests/integration/tamper.sh
	KILN_BUILD=$(BUILD) bash tests/integration/users.sh
	KILN_BUILD=$(BUILD) KILN_SAN=$(SAN) bash tests/integration/bounds.sh
	KILN_BUILD=$(BUILD) KILN_SAN=$(SAN) bash tests/integration/faults.sh
	KILN_BUILD=$(BUILD) KILN_SAN=$(SAN) bash tests/integration/saves.sh
	KILN_BUILD=$(BUILD) KILN_SAN=$(SAN) bash tests/integration/http.sh
	KILN_BUILD=$(BUILD) KILN_SAN=$(SAN) bash tests/integration/errors.sh
	KILN_BUILD=$(BUILD) KILN_SAN=$(SAN) bash tests/integration/ui.sh
	KILN_BUILD=$(BUILD) KILN_SAN=$(SAN) bash tests/integration/scale.sh
	KILN_BUILD=$(BUILD) KILN_SAN=$(SAN) bash tests/integration/logs.sh
	KILN_BUILD=$(BUILD) KILN_SAN=$(SAN) bash tests/integration/history.sh
	$(if $(SAN),,KILN_BUILD=$(BUILD) bash tests/integration/local.sh)
	$(if $(SAN),,KILN_BUILD=$(BUILD) bash tests/integration/cli.sh)
	$(if $(SAN),,KILN_BUILD=$(BUILD) bash tests/integration/masters.sh)
	$(MAKE) --no-print-directory check-python
	$(if $(SAN),,KILN_BUILD=$(BUILD) bash tests/integration/slurm.sh)
	$(if $(SAN),,$(PY) tests/integration/k8s_check.py deploy/kubernetes $(BUILD))

# The Python package's tests, with pytest from Debian (python3-pytest) under
# Debian's interpreter. In the sanitizer build the extension is
# instrumented, so the interpreter preloads the sanitizer runtime; the
# interpreter's own allocations at exit are not the point of the leak check, and an
# allocation past task.memory_limit returns NULL (MemoryError) as without it.
ifeq ($(SAN),1)
PYTEST_ENV := LD_PRELOAD="$(shell $(CC) -print-file-name=libasan.so) $(shell $(CC) -print-file-name=libubsan.so)" \
	ASAN_OPTIONS=detect_leaks=0:handle_segv=0:handle_sigbus=0:handle_sigfpe=0:allocator_may_return_null=1
endif
check-python: all
	KILN_BUILD=$(BUILD) $(PYTEST_ENV) $(PY) -m pytest -q -p no:cacheprovider tests/python

# The builds of make check use every core (JOBS). The tests of the two
# builds are independent (their own build directories, daemons on ports the
# kernel picks, their own temporary directories), so `make check` runs the
# plain and the sanitizer lanes side by side; within a lane the tests run one
# after another. Each lane's output is shown whole when it ends
# (--output-sync). package.sh runs alone afterwards: it installs the .deb on
# this machine, and while it is installed every root process reads its
# service secret (/var/lib/kiln/secret) as the default one.
JOBS ?= $(shell nproc 2>/dev/null || echo 1)

check-fast:
	$(MAKE) --no-print-directory -j$(JOBS) all
	$(MAKE) --no-print-directory check-unit check-integration check-package

check-asan:
	$(MAKE) --no-print-directory -j$(JOBS) BUILD=build-asan SAN=1 all
	$(MAKE) --no-print-directory check-lane-asan

check-package: all
	KILN_BUILD=$(BUILD) bash tests/integration/package.sh

# the two lanes of make check
check-lane-plain:
	$(MAKE) --no-print-directory check-unit check-integration
check-lane-asan:
	$(MAKE) --no-print-directory BUILD=build-asan SAN=1 SPILL_MB=40 SOAK_JOBS=9 check-unit check-integration

check:
	$(MAKE) --no-print-directory -j$(JOBS) all
	$(MAKE) --no-print-directory -j$(JOBS) BUILD=build-asan SAN=1 all
	$(MAKE) --no-print-directory -j$(JOBS) $(FUZZ_BINS)
	$(MAKE) --no-print-directory -j2 --output-sync=recurse check-lane-plain check-lane-asan
	$(MAKE) --no-print-directory check-package
	$(MAKE) --no-print-directory check-fuzz

demo: all
	bash scripts/demo.sh $(BUILD)

bench: all
	bash bench/run.sh $(BUILD)
	bash bench/shuffle.sh $(BUILD)
	bash bench/python.sh $(BUILD)
	bash bench/scale.sh $(BUILD)
	bash bench/take.sh $(BUILD)
	bash bench/sql.sh $(BUILD)
	bash bench/sqlio.sh $(BUILD)

# the driver's instructions per task under callgrind (valgrind): to compare
# two builds where tasks/s moves with the machine's load
bench-instructions: all
	bash bench/instructions.sh $(BUILD)

# make install: binaries, header, Python package, units (pointing at
# $(PREFIX)/bin), config, logrotate, man pages. Run as root with no
# DESTDIR, it also makes the `kiln` system user and the directories the
# units use (the .deb's postinst does the same).
MAN1 := man/kiln.1
MAN5 := man/kiln.conf.5
MAN8 := man/kiln-driver.8 man/kiln-worker.8
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/include $(DESTDIR)/etc/kiln $(DESTDIR)/lib/systemd/system \
		$(DESTDIR)/etc/logrotate.d $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man5 \
		$(DESTDIR)$(PREFIX)/share/man/man8
	install -m 755 $(BINS) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 include/kiln.h $(DESTDIR)$(PREFIX)/include/
	for u in kiln-driver kiln-worker; do \
		sed 's|/usr/local/bin/|$(PREFIX)/bin/|g' systemd/$$u.service > $(DESTDIR)/lib/systemd/system/$$u.service; \
		chmod 644 $(DESTDIR)/lib/systemd/system/$$u.service; done
	[ -f $(DESTDIR)/etc/kiln/kiln.conf ] || install -m 644 docs/kiln.conf.example $(DESTDIR)/etc/kiln/kiln.conf
	install -m 644 systemd/kiln.logrotate $(DESTDIR)/etc/logrotate.d/kiln
	install -d $(DESTDIR)$(PREFIX)/share/bash-completion/completions
	install -m 644 scripts/kiln.bash-completion $(DESTDIR)$(PREFIX)/share/bash-completion/completions/kiln
	gzip -9n < $(MAN1) > $(DESTDIR)$(PREFIX)/share/man/man1/kiln.1.gz
	gzip -9n < $(MAN5) > $(DESTDIR)$(PREFIX)/share/man/man5/kiln.conf.5.gz
	for m in $(MAN8); do gzip -9n < $$m > $(DESTDIR)$(PREFIX)/share/man/man8/$$(basename $$m).gz; done
	install -d $(DESTDIR)$(PY_SITE)/kiln
	install -m 644 $(PY_FILES) $(DESTDIR)$(PY_SITE)/kiln/
	install -d $(DESTDIR)$(PY_SITE)/kiln/sql
	install -m 644 $(PY_SQL_FILES) $(DESTDIR)$(PY_SITE)/kiln/sql/
	install -m 644 $(PYEXT) $(DESTDIR)$(PY_SITE)/kiln/
	install -d $(DESTDIR)$(PREFIX)/lib/kiln/python-compat/pyspark
	install -m 644 python/compat/pyspark/__init__.py $(DESTDIR)$(PREFIX)/lib/kiln/python-compat/pyspark/
	printf '# written by make install\npython = "%s"\npython_version = "%s"\nbindir = "%s"\n' \
		"$(PY_BIN)" "$(PY_VERSION)" "$(PREFIX)/bin" > $(DESTDIR)$(PY_SITE)/kiln/_build.py
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ]; then sh scripts/kiln-user.sh; fi

# Removes what make install put in place, except /etc/kiln/kiln.conf (the
# operator's), the kiln user and /var/lib/kiln, /var/log/kiln (their data).
uninstall:
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/bin/,$(notdir $(BINS))) $(DESTDIR)$(PREFIX)/include/kiln.h
	rm -f $(DESTDIR)/lib/systemd/system/kiln-driver.service $(DESTDIR)/lib/systemd/system/kiln-worker.service
	rm -f $(DESTDIR)$(PREFIX)/share/bash-completion/completions/kiln
	rm -f $(DESTDIR)/etc/logrotate.d/kiln $(DESTDIR)$(PREFIX)/share/man/man1/kiln.1.gz \
		$(DESTDIR)$(PREFIX)/share/man/man5/kiln.conf.5.gz $(DESTDIR)$(PREFIX)/share/man/man8/kiln-driver.8.gz \
		$(DESTDIR)$(PREFIX)/share/man/man8/kiln-worker.8.gz
	rm -rf $(DESTDIR)$(PY_SITE)/kiln $(DESTDIR)$(PREFIX)/lib/kiln/python-compat

# make deb: a binary .deb (dpkg-deb) of make install with PREFIX=/usr.
deb: all
	bash scripts/mkdeb.sh $(BUILD)

include fuzz/fuzz.mk

clean:
	rm -rf build build-asan build-fuzz
