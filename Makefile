# The two commands of the README: `make run` and `make test`.
.PHONY: setup build run test test-unit test-integration test-asan bench clean check-format

BUILD ?= build
ASAN_BUILD ?= build-asan
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

bench: build
	@$(BUILD)/bench/immp_bench

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
