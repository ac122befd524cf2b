# The two commands of the README: `make run` and `make test`.
.PHONY: setup build run test test-unit test-integration test-asan test-fuzz bench clean

BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 30
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

setup:
	@./scripts/setup.sh

$(BUILD)/build.ninja:
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null

build: setup $(BUILD)/build.ninja
	@cmake --build $(BUILD) -j $(JOBS)

run: setup $(BUILD)/build.ninja
	@cmake --build $(BUILD) -j $(JOBS) --target immp_bin
	./$(BUILD)/immp examples/demo.yaml

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 600
	@$(MAKE) --no-print-directory test-asan
	@$(MAKE) --no-print-directory test-fuzz

test-unit: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -L unit

test-integration: build
	cd $(BUILD) && ctest --output-on-failure -j 1 -L integration

$(ASAN_BUILD)/build.ninja:
	@cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DIMMP_SANITIZE=ON -DIMMP_BENCH=OFF $(CMAKE_FLAGS) >/dev/null

test-asan: setup $(ASAN_BUILD)/build.ninja
	@cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
		ctest --output-on-failure -j $(JOBS) -L unit

# The IRC line parser and the markup readers under libFuzzer (clang), for
# FUZZ_SECONDS in all.
$(FUZZ_BUILD)/build.ninja:
	@cmake -S . -B $(FUZZ_BUILD) -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DIMMP_FUZZ=ON \
		-DIMMP_TESTS=OFF -DIMMP_BENCH=OFF -DIMMP_FUZZ_SECONDS=$(FUZZ_SECONDS) $(CMAKE_FLAGS) >/dev/null

test-fuzz: setup $(FUZZ_BUILD)/build.ninja
	@cmake --build $(FUZZ_BUILD) --target fuzz_run

bench: build
	@$(BUILD)/bench/immp_bench

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
