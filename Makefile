# mnist: build, test and run from the checkout. `make help` lists the targets.
VERSION   := $(shell sed -n 's/^return "\(.*\)"/\1/p' lua/mnist/version.lua)
ROCKSPEC  := mnist-$(VERSION)-1.rockspec
LUAJIT    ?= luajit
CC        ?= cc
LUA_INC   ?= /usr/include/luajit-2.1
BLAS_INC  ?= /usr/include/x86_64-linux-gnu
OPT       ?= -O3
# sqrtf never needs to set errno here; without -fno-math-errno GCC cannot vectorise the optimizer
# loops (csrc/optim.c), which then run 5x slower.
MATH_FLAGS := -fno-math-errno
CFLAGS_ALL = -std=gnu11 $(OPT) $(MATH_FLAGS) -fPIC -Wall -Wextra -Werror -pthread -I$(LUA_INC) -I$(BLAS_INC) $(CFLAGS)
LIBS      := -lopenblas -lcrypto -lz -lstb -lm -pthread
BUILD     ?= build
CORE      := $(BUILD)/mnist/core.so
SOURCES   := $(wildcard csrc/*.c)
HEADERS   := $(wildcard csrc/*.h)

# Debian packages the project needs at build, test and run time (make deps installs the missing).
DEBS := luajit libluajit-5.1-dev libopenblas-dev libssl-dev zlib1g-dev libstb-dev lua-cjson lua-busted \
        luarocks lua-yaml lua-argparse lua-term curl gnuplot-nox perl
# The deploy specs' S3-compatible server (spec/support/s3_server.sh): Swift with its s3api.
DEBS += swift-proxy swift-account swift-container swift-object memcached
ASAN_DEBS := gcc

# Tests reach the local MNIST mirror beside the checkout (if any) through the project's own setting.
TEST_MIRROR := $(wildcard $(CURDIR)/../shared/data/mnist)
ifneq ($(TEST_MIRROR),)
test asan: export MNIST_MIRROR ?= $(TEST_MIRROR)
endif

# In-tree paths: `eval "$$(make -s env)"` sets them in a shell.
export LUA_PATH  := $(CURDIR)/lua/?.lua;$(CURDIR)/lua/?/init.lua;;
export LUA_CPATH := $(CURDIR)/$(BUILD)/?.so;;

.PHONY: all deps test asan train install env clean help bench bench-smoke

all: $(CORE)

$(CORE): $(SOURCES) $(HEADERS) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -shared -o $@ $(SOURCES) $(LIBS) $(LDFLAGS)

deps:
	@sh tools/deps.sh $(DEBS)

test: deps all
	@sh spec/run.sh

# The C module under AddressSanitizer + UndefinedBehaviorSanitizer, then the whole suite with it.
asan: deps
	@$(MAKE) --no-print-directory BUILD=build-asan OPT="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined" all
	@MNIST_BUILD_DIR=build-asan LUA_CPATH="$(CURDIR)/build-asan/?.so;;" \
	 LD_PRELOAD="$$($(CC) -print-file-name=libasan.so) $$($(CC) -print-file-name=libubsan.so)" \
	 ASAN_OPTIONS=detect_leaks=0:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	 sh spec/run.sh

train: deps all
	$(LUAJIT) examples/demo.lua

# The benchmark against PyTorch (bench/run.lua; not part of `make test`): MNIST_BENCH_DATA names the
# IDX files' directory, by default the local mirror beside the checkout when there is one.
BENCH_DEBS := python3-torch python3-numpy python3-pil time
BENCH_DATA := $(wildcard $(CURDIR)/../shared/data/mnist)
ifneq ($(BENCH_DATA),)
bench bench-smoke: export MNIST_BENCH_DATA ?= $(BENCH_DATA)
endif

bench: all
	@sh tools/deps.sh $(BENCH_DEBS)
	$(LUAJIT) bench/run.lua

bench-smoke: all
	@sh tools/deps.sh $(BENCH_DEBS)
	BENCH_QUICK=1 $(LUAJIT) bench/run.lua

install: deps
	luarocks --lua-version=5.1 make $(ROCKSPEC) --deps-mode=none LUA_INCDIR=$(LUA_INC) CFLAGS="$(OPT) $(MATH_FLAGS) -fPIC"

env:
	@echo "export LUA_PATH='$(LUA_PATH)' LUA_CPATH='$(LUA_CPATH)'"

clean:
	rm -rf build build-asan

help:
	@echo "make deps    install missing Debian packages (apt-get as root; prints the line otherwise)"
	@echo "make         build $(CORE) in-tree"
	@echo "make test    run the specs (ends with 'N passed, N failed')"
	@echo "make asan    run the specs against an ASan+UBSan build of the C core"
	@echo "make train   the main job"
	@echo "make bench   benchmark against PyTorch, writes bench/RESULTS.md (BENCH_QUICK=1: smoke run)"
	@echo "make install luarocks make $(ROCKSPEC)"
	@echo "make env     print LUA_PATH/LUA_CPATH for using the checkout from a shell"
