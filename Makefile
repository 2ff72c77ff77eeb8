# azlite: `make` builds build/azlite; `make test` runs unit and end-to-end tests.
CC      ?= cc
CFLAGS  ?= -O2 -g
# Tables (routes, operations) list the leading fields they use; the rest are zero.
CFLAGS  += -std=gnu11 -Wall -Wextra -Werror -Wno-missing-field-initializers -D_GNU_SOURCE -MMD -MP -pthread
LDLIBS  := -lmicrohttpd -ljansson -lexpat -lssl -lcrypto -lsqlite3 -pthread

LIB_SRC := $(sort $(wildcard src/core/*.c src/arm/*.c src/identity/*.c src/storage/*.c \
                             src/compute/*.c src/ml/*.c src/web/*.c src/cost/*.c))
# `make EXCLUDE='src/storage/%'` builds without a provider that is mid-change.
EXCLUDE ?=
LIB_SRC := $(filter-out $(EXCLUDE),$(LIB_SRC))
CLI_SRC := $(sort $(wildcard src/cli/*.c))
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))

LIB_OBJ := $(LIB_SRC:%.c=build/%.o)
CLI_OBJ := $(CLI_SRC:%.c=build/%.o)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=build/tests/%)

all: build/azlite

build/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

build/libazlite.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

# Statements come from the store's cache (store_prepare/store_finalize); a raw
# sqlite3_finalize on a cached statement would leave the cache dangling.
check-sql:
	@if grep -n 'sqlite3_prepare_v[23]\?(\|sqlite3_finalize(' $$(ls src/*/*.c | grep -v src/core/store.c); then \
	  echo "use store_prepare()/store_finalize() (src/core/core.h), not sqlite3_prepare*/sqlite3_finalize"; exit 1; fi

build/azlite: $(CLI_OBJ) build/libazlite.a | check-sql
	$(CC) $(CFLAGS) -o $@ $(CLI_OBJ) build/libazlite.a $(LDLIBS)

build/tests/%: tests/unit/%.c build/libazlite.a tests/unit/unit.h tests/unit/unit_alloc.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Isrc -o $@ $< build/libazlite.a $(LDLIBS)

unit: $(UNIT_BIN)
	@fail=0; for t in $(UNIT_BIN); do $$t || fail=1; done; exit $$fail

test: all unit
	tests/e2e/run.sh

clean:
	rm -rf build

format:
	clang-format -i $(LIB_SRC) $(CLI_SRC) $(wildcard src/*/*.h) $(UNIT_SRC)

.PHONY: all unit test clean format check-sql
-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d)
