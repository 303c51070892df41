# cronflow — a plain Makefile. See README.md for the two commands that
# matter: `make run` and `make test`.
#
#   make            release build: build/cronflow
#   make run        install missing packages (as root), build, start serving
#   make test       install test packages, ASan+UBSan build in build/asan/,
#                   run every test (unit, case files, differential, fuzz replay)
#   make bench      benchmarks, each beside its reference, into the terminal
#   make fuzz       libFuzzer targets in build/fuzz/ (FUZZ_SECONDS each)
#   make valgrind   unit tests under valgrind
#   make format / format-check

CC       ?= cc
BUILD    ?= build
PORT     ?= 8080
DB       ?= data/cronflow.db
FUZZ_SECONDS ?= 60

VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

WARN := -std=c17 -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes \
        -Wmissing-prototypes -Wformat=2 -Wvla -Werror
BASE_CFLAGS := $(WARN) -D_GNU_SOURCE -DCRONFLOW_VERSION='"$(VERSION)"' -Isrc \
               -pthread -MMD -MP
CFLAGS   ?= -O2 -g
PKGS     := libmicrohttpd jansson sqlite3 libcurl libuv libsodium libpq
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS    = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -pthread -lm
BASE_CFLAGS += $(PKG_CFLAGS)

# Files compiled into the binary: the web UI and the SQL migrations.
WEB_FILES := $(sort $(wildcard web/*.html web/*.css web/*.js web/*.svg))
SQLITE_MIGRATIONS := $(sort $(wildcard src/store/migrations/sqlite/*.sql))
API_DOCS := src/api/openapi.json
GEN_SRC := web_files sqlite_migrations api_docs

# Every module's sources; main.c wires them into the binary.
LIB_SRC  := $(sort $(wildcard src/*/*.c))
MAIN_SRC := src/main.c

# -------------------------------------------------------------- release
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o) $(GEN_SRC:%=$(BUILD)/obj/gen/%.o)

all: $(BUILD)/cronflow

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/gen/web_files.c: $(WEB_FILES) scripts/embed
	@mkdir -p $(dir $@)
	scripts/embed $@ web_files web/ $(WEB_FILES)

$(BUILD)/gen/sqlite_migrations.c: $(SQLITE_MIGRATIONS) scripts/embed
	@mkdir -p $(dir $@)
	scripts/embed $@ sqlite_migrations src/store/migrations/sqlite/ $(SQLITE_MIGRATIONS)

$(BUILD)/gen/api_docs.c: $(API_DOCS) scripts/embed
	@mkdir -p $(dir $@)
	scripts/embed $@ api_docs src/api/ $(API_DOCS)

$(BUILD)/obj/gen/%.o: $(BUILD)/gen/%.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/libcronflow.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/cronflow: $(BUILD)/obj/src/main.o $(BUILD)/libcronflow.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# -------------------------------------------------------------- sanitized
ASAN      := $(BUILD)/asan
ASAN_FLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
              -fno-sanitize-recover=undefined
ASAN_OBJ  := $(LIB_SRC:%.c=$(ASAN)/obj/%.o) $(GEN_SRC:%=$(ASAN)/obj/gen/%.o)
TEST_SRC  := $(sort $(wildcard tests/unit/test_*.c))
TEST_BIN  := $(TEST_SRC:tests/unit/%.c=$(ASAN)/tests/%)
FUZZ_SRC  := $(sort $(wildcard fuzz/fuzz_*.c))
REPLAY_BIN := $(FUZZ_SRC:fuzz/fuzz_%.c=$(ASAN)/fuzz/replay_%)
TOOL_SRC  := $(sort $(wildcard tests/tools/*.c))
TOOL_BIN  := $(TOOL_SRC:tests/tools/%.c=$(ASAN)/tools/%)

$(ASAN)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(ASAN_FLAGS) -c $< -o $@

$(ASAN)/obj/gen/%.o: $(BUILD)/gen/%.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(ASAN_FLAGS) -c $< -o $@

$(ASAN)/libcronflow.a: $(ASAN_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(ASAN)/cronflow: $(ASAN)/obj/src/main.o $(ASAN)/libcronflow.a
	$(CC) $(ASAN_FLAGS) -o $@ $^ $(LDLIBS)

$(ASAN)/tests/%: $(ASAN)/obj/tests/unit/%.o $(ASAN)/libcronflow.a
	@mkdir -p $(dir $@)
	$(CC) $(ASAN_FLAGS) -o $@ $^ $(LDLIBS) $(shell pkg-config --libs cmocka)

$(ASAN)/fuzz/replay_%: $(ASAN)/obj/fuzz/fuzz_%.o $(ASAN)/obj/fuzz/replay_main.o $(ASAN)/libcronflow.a
	@mkdir -p $(dir $@)
	$(CC) $(ASAN_FLAGS) -o $@ $^ $(LDLIBS)

$(ASAN)/tools/%: $(ASAN)/obj/tests/tools/%.o $(ASAN)/libcronflow.a
	@mkdir -p $(dir $@)
	$(CC) $(ASAN_FLAGS) -o $@ $^ $(LDLIBS)

test-build: $(ASAN)/cronflow $(TEST_BIN) $(REPLAY_BIN) $(TOOL_BIN)

test:
	scripts/install-deps test
	$(MAKE) test-build
	scripts/run-tests $(ASAN)

# -------------------------------------------------------------- run
run:
	scripts/install-deps build
	$(MAKE) all
	@mkdir -p $(dir $(DB))
	$(BUILD)/cronflow serve --listen 127.0.0.1:$(PORT) --db $(DB)

# -------------------------------------------------------------- bench
BENCH_SRC := $(sort $(wildcard bench/bench_*.c))
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(BUILD)/libcronflow.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

bench:
	scripts/install-deps bench
	$(MAKE) $(BUILD)/cronflow $(BENCH_BIN)
	scripts/run-bench $(BUILD)

# -------------------------------------------------------------- fuzz
FUZZ      := $(BUILD)/fuzz
FUZZ_FLAGS := -O1 -g -fsanitize=fuzzer,address,undefined
# The fuzz targets exercise the pure modules only; linking the rest would
# add its libraries for nothing.
FUZZ_LIB_SRC := $(filter src/base/% src/cron/% src/tz/% src/expr/% src/flow/%,$(LIB_SRC))
FUZZ_LIB_OBJ := $(FUZZ_LIB_SRC:%.c=$(FUZZ)/obj/%.o)
FUZZ_BIN  := $(FUZZ_SRC:fuzz/%.c=$(FUZZ)/%)

$(FUZZ)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	clang $(BASE_CFLAGS) -O1 -g -fsanitize=fuzzer-no-link,address,undefined -c $< -o $@

$(FUZZ)/%: $(FUZZ)/obj/fuzz/%.o $(FUZZ_LIB_OBJ)
	clang $(FUZZ_FLAGS) -o $@ $^ $(LDLIBS)

fuzz:
	scripts/install-deps test
	$(MAKE) $(FUZZ_BIN)
	@for f in $(FUZZ_BIN); do \
	  name=$${f##*/fuzz_}; mkdir -p $(FUZZ)/corpus/$$name; \
	  echo "fuzzing $$name for $(FUZZ_SECONDS)s"; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -artifact_prefix=$(FUZZ)/ $(FUZZ)/corpus/$$name fuzz/corpus/$$name || exit 1; \
	done

# -------------------------------------------------------------- misc
valgrind: $(BUILD)/cronflow
	scripts/install-deps test
	$(MAKE) ASAN_FLAGS="-O0 -g" BUILD=$(BUILD)/vg test-build
	@for t in $(BUILD)/vg/asan/tests/*; do \
	  valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite --child-silent-after-fork=yes $$t || exit 1; done

FORMAT_FILES := $(shell find src tests fuzz bench -name '*.[ch]' 2>/dev/null)
format:
	clang-format -i $(FORMAT_FILES)
format-check:
	clang-format --dry-run --Werror $(FORMAT_FILES)

clean:
	rm -rf $(BUILD)

.PHONY: all run test test-build bench fuzz valgrind format format-check clean
.SECONDARY:

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
