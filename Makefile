# Thin wrapper over CMake + CTest. The two commands a new machine needs:
#   make run    installs dependencies and models, builds, starts khappy serve
#   make test   installs dependencies and models, builds, runs every test
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
JOBS       ?= $(shell nproc)
CMAKE_ARGS ?=
PORT       ?= 8080
DATA       ?= $(HOME)/.local/share/khappy

.PHONY: all build deps models test test-asan fuzz fuzz-short run bench clean

all: build

deps:
	@bash scripts/bootstrap.sh

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja $(CMAKE_ARGS)

build: $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

models: build
	@bash scripts/models.sh $(BUILD)/khappy

$(ASAN_BUILD)/build.ninja:
	cmake -S . -B $(ASAN_BUILD) -G Ninja -DKH_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug $(CMAKE_ARGS)

# Unit tests under AddressSanitizer + UndefinedBehaviorSanitizer.
test-asan: $(ASAN_BUILD)/build.ninja
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
		ctest -L unit --output-on-failure -j $(JOBS)

$(FUZZ_BUILD)/build.ninja:
	CC=clang cmake -S . -B $(FUZZ_BUILD) -G Ninja -DKH_FUZZ=ON -DKH_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug $(CMAKE_ARGS)

FUZZ_SECONDS ?= 300
fuzz: $(FUZZ_BUILD)/build.ninja
	cmake --build $(FUZZ_BUILD) -j $(JOBS)
	bash fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

fuzz-short:
	$(MAKE) fuzz FUZZ_SECONDS=30

test: deps build models
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	$(MAKE) test-asan
	$(MAKE) fuzz-short

run: deps build models
	$(BUILD)/khappy serve --port $(PORT) --data $(DATA) --ingest-demo

bench: deps build models
	bash bench/run.sh $(BUILD)/khappy

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
