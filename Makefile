# azlite: `make` builds build/azlite; `make test` runs unit and end-to-end tests.
# `make asan` builds into build-asan/ with ASan+UBSan and runs the unit and e2e
# tests on it; `make fuzz` builds the libFuzzer targets into build-fuzz/ and
# `make fuzz-smoke` / `make fuzz-long FUZZ_TIME=600` run them (tests/fuzz/).
CC      ?= cc
CFLAGS  ?= -O2 -g
# Tables (routes, blob operations) name their fields; every initializer is checked.
CFLAGS  += -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -MMD -MP -pthread
LDLIBS  := -lmicrohttpd -ljansson -lexpat -lssl -lcrypto -lsqlite3 -lcurl -lm -pthread

# Where objects and binaries go; a sanitizer build uses its own tree so build/ stays
# as it is (`make BUILD=build-asan SAN=address`).  SAN is passed to -fsanitize= and
# added to the Makefile's own flags (`make CFLAGS=...` would replace them).
BUILD   ?= build
SAN     ?=
ifneq ($(SAN),)
CFLAGS  += -fsanitize=$(SAN) -fno-omit-frame-pointer -fno-sanitize-recover=undefined
endif

LIB_SRC := $(sort $(wildcard src/core/*.c src/arm/*.c src/identity/*.c src/storage/*.c src/runtime/*.c \
                             src/network/*.c src/compute/*.c src/ml/*.c src/web/*.c src/cost/*.c \
                             src/keyvault/*.c src/insights/*.c src/operationalinsights/*.c))
# `make EXCLUDE='src/storage/%'` builds without a provider that is mid-change.
EXCLUDE ?=
LIB_SRC := $(filter-out $(EXCLUDE),$(LIB_SRC))
CLI_SRC := $(sort $(wildcard src/cli/*.c))
WEB_PY_SRC := $(shell find src/web/python -name '*.py' 2>/dev/null)
WEB_PY_OUT := $(WEB_PY_SRC:src/web/python/%=$(BUILD)/azlite-python/%)
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))

LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/%.o)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/%)

all: $(BUILD)/azlite $(BUILD)/libazlite_preload.so $(WEB_PY_OUT)

# The function host's Python worker and azlite's azure.functions (src/web/python),
# installed beside the binary (build/azlite-python).
$(BUILD)/azlite-python/%: src/web/python/%
	@mkdir -p $(dir $@)
	cp $< $@

# `azlite exec`'s preloaded library (src/preload/), installed beside the binary.
# Built without the sanitizers: it is loaded into other programs.
PRELOAD_CFLAGS := -O2 -g -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -fPIC -shared
$(BUILD)/libazlite_preload.so: src/preload/azlite_preload.c src/core/azure_hosts.h
	@mkdir -p $(dir $@)
	$(CC) $(PRELOAD_CFLAGS) -o $@ $< -ldl

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

# The price catalog is built in (.incbin), which -MMD does not see.
$(BUILD)/src/cost/prices.o: src/cost/prices.json

$(BUILD)/libazlite.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

# Statements come from the store's cache (store_prepare/store_finalize); a raw
# sqlite3_finalize on a cached statement would leave the cache dangling.
check-sql:
	@if grep -n 'sqlite3_prepare_v[23]\?(\|sqlite3_finalize(' $$(ls src/*/*.c | grep -v src/core/store.c); then \
	  echo "use store_prepare()/store_finalize() (src/core/core.h), not sqlite3_prepare*/sqlite3_finalize"; exit 1; fi

# Core depends on no provider: providers plug into it through struct provider
# (routes, hooks, access_ops in src/core/core.h), never the reverse.  Resource
# Manager sits below identity and storage: it asks the core's access_*() calls.
INCLUDE_UP := ^[[:space:]]*\#[[:space:]]*include[[:space:]]*"\.\./
check-layers:
	@if grep -nE '$(INCLUDE_UP)' src/core/*.c src/core/*.h; then \
	  echo "src/core must include no provider's header: plug the provider in through struct provider's hooks (src/core/core.h)"; exit 1; fi
	@if grep -nE '$(INCLUDE_UP)(identity|storage)/' src/arm/*.c src/arm/*.h; then \
	  echo "src/arm must include nothing from src/identity or src/storage: ask the core (access_allowed() etc. in src/core/core.h)"; exit 1; fi

# Error codes come from each provider's catalog (src/*/errors.h): a failure
# written as a status literal and a code literal bypasses it.
check-errors:
	@if perl -0ne 'while (/http_fail(?:_style)?\((?:[^,;()]|\([^()]*\))+?,\s*(?:[^,;()"]+?,\s*)?\d{3},\s*"/g) { print "$$ARGV: $$&\n"; $$bad = 1 } END { exit !$$bad }' src/*/*.c; then \
	  echo "take status and code from the provider's catalog (src/<provider>/errors.h), e.g. http_fail(r, ARM_ERR_RESOURCE_NOT_FOUND, ...)"; exit 1; fi

$(BUILD)/azlite: $(CLI_OBJ) $(BUILD)/libazlite.a | check-sql check-layers check-errors
	$(CC) $(CFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/libazlite.a $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libazlite.a tests/unit/unit.h tests/unit/unit_alloc.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Isrc -o $@ $< $(BUILD)/libazlite.a $(LDLIBS)

unit-bins: $(UNIT_BIN)

unit: $(UNIT_BIN)
	@fail=0; for t in $(UNIT_BIN); do $$t || fail=1; done; exit $$fail

# E2E: substrings of test paths to run (tests/e2e/run.sh's arguments); empty: all.
E2E ?=
test: all unit
	tests/e2e/run.sh $(E2E)

# ---- sanitizers ----------------------------------------------------------------
# The unit tests and the e2e suite against build-asan/azlite.  Every process writes
# its sanitizer reports to files under build-asan/sanitizer-logs (a server's stderr
# goes to its test's log, and a test may pass although its server aborted), and the
# run fails when any report exists.  Leaks are reported when a process exits.
# verify_asan_link_order=0: tests run the ASan azlite under `azlite exec`,
# whose library is preloaded before the ASan runtime (harmless: it
# interposes only the resolver and connect()).
ASAN_BUILD := build-asan
SAN_LOGS := $(CURDIR)/$(ASAN_BUILD)/sanitizer-logs
SAN_ENV := ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1:verify_asan_link_order=0:log_path=$(SAN_LOGS)/asan \
           UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:log_path=$(SAN_LOGS)/ubsan

asan-build:
	$(MAKE) BUILD=$(ASAN_BUILD) SAN=address,undefined all unit-bins

asan: asan-build
	@rm -rf $(SAN_LOGS); mkdir -p $(SAN_LOGS)
	@grep -q 'AZLITE_BIN:[-=]' tests/e2e/run.sh || { \
	  echo "asan: tests/e2e/run.sh overrides AZLITE_BIN, so it would test build/azlite"; exit 1; }
	@fail=0; \
	for t in $(UNIT_SRC:tests/unit/%.c=$(ASAN_BUILD)/tests/%); do $(SAN_ENV) $$t || fail=1; done; \
	$(SAN_ENV) AZLITE_BIN=$(CURDIR)/$(ASAN_BUILD)/azlite tests/e2e/run.sh $(E2E) || fail=1; \
	scripts/sanitizer-reports $(SAN_LOGS) || fail=1; \
	exit $$fail

# ---- fuzzing ---------------------------------------------------------------------
# libFuzzer targets (tests/fuzz/fuzz_<name>.c) with Debian's clang; seed corpora
# in tests/fuzz/corpus/<name>/ (read-only: new inputs go to build-fuzz/corpus/<name>).
FUZZ_BUILD := build-fuzz
FUZZ_CC ?= clang
FUZZ_TIME ?= 600
FUZZ_SMOKE_TIME ?= 10
FUZZ_NAMES = $(FUZZ_SRC:tests/fuzz/fuzz_%.c=%)

# Targets link the instrumented library with libFuzzer's main; the library itself
# is built with -fsanitize=fuzzer-no-link.
$(BUILD)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(BUILD)/libazlite.a
	$(CC) $(CFLAGS) -fsanitize=fuzzer -Isrc -o $@ $< $(BUILD)/libazlite.a $(LDLIBS)

fuzz-bins: $(FUZZ_BIN)

fuzz:
	CFLAGS='-O1 -g' $(MAKE) BUILD=$(FUZZ_BUILD) CC=$(FUZZ_CC) \
	  SAN=fuzzer-no-link,address,undefined fuzz-bins

# Each target for FUZZ_SMOKE_TIME seconds (about a minute and a half in all);
# fuzz-long runs each for FUZZ_TIME seconds.  A crash fails the run and leaves
# its input in build-fuzz/crashes/.
fuzz-smoke: fuzz
	@scripts/fuzz-run $(FUZZ_BUILD) $(FUZZ_SMOKE_TIME) $(FUZZ_NAMES)

fuzz-long: fuzz
	@scripts/fuzz-run $(FUZZ_BUILD) $(FUZZ_TIME) $(FUZZ_NAMES)

clean:
	rm -rf build $(ASAN_BUILD) $(FUZZ_BUILD)

format:
	clang-format -i $(LIB_SRC) $(CLI_SRC) src/preload/*.c $(wildcard src/*/*.h) $(UNIT_SRC) $(FUZZ_SRC)

.PHONY: all unit unit-bins test clean format check-sql check-layers check-errors asan asan-build fuzz fuzz-bins fuzz-smoke fuzz-long
-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d)
