# Front door. `make demo` and `make test` set up everything on a fresh Debian machine.
JOBS ?= $(shell nproc)
# Tests at once: all cores, at most 8 (each test's own OpenMP threads use every core anyway, and the
# sanitizer builds' memory grows with every process running at once).
TEST_JOBS ?= $(shell n=$$(nproc); [ $$n -gt 8 ] && echo 8 || echo $$n)
BUILD ?= build
BUILD_ASAN ?= build-asan
BUILD_FUZZ ?= build-fuzz
CLI := $(BUILD)/src/devops-model

.PHONY: all deps build test test-fast test-asan fuzz demo bench clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# The whole suite: every Release test (both tiers), then the fast tier under ASan+UBSan, then each fuzzer
# briefly. Tiers are CTest labels, `fast` and `slow` (tests/CMakeLists.txt says which tests are slow).
test: build
	cd $(BUILD) && OMP_WAIT_POLICY=PASSIVE ctest --output-on-failure -j $(TEST_JOBS)
	$(MAKE) --no-print-directory test-asan fuzz

# The fast tier alone, Release: the quick check while editing.
test-fast: build
	cd $(BUILD) && OMP_WAIT_POLICY=PASSIVE ctest --output-on-failure -j $(TEST_JOBS) -L '^fast$$'

test-asan: deps
	@cmake -S . -B $(BUILD_ASAN) -DCMAKE_BUILD_TYPE=Release -DDM_SANITIZE=ON -DDM_BUILD_BENCH=OFF >/dev/null
	@cmake --build $(BUILD_ASAN) -j $(JOBS)
	cd $(BUILD_ASAN) && OMP_WAIT_POLICY=PASSIVE ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure -j $(TEST_JOBS) -L '^fast$$'

fuzz: deps
	@CXX=clang++ cmake -S . -B $(BUILD_FUZZ) -DCMAKE_BUILD_TYPE=Release -DDM_FUZZ=ON -DDM_BUILD_TESTS=OFF -DDM_BUILD_BENCH=OFF >/dev/null
	@cmake --build $(BUILD_FUZZ) -j $(JOBS) --target fuzz_all
	scripts/run-fuzzers.sh $(BUILD_FUZZ) 20

demo: build
	OMP_WAIT_POLICY=PASSIVE $(CLI) demo

bench: build
	$(BUILD)/bench/dm_bench

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_FUZZ)
