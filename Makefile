# Front door. `make` builds build/postern (release); `make run` sets up and
# serves on the embedded defaults; `make test` builds with ASan/UBSan and
# runs every unit and integration test through ctest.
JOBS ?= $(shell nproc)
BUILD ?= build
TEST_BUILD ?= build-test

.PHONY: all deps test-deps build run test fuzz bench clean

all: build

deps:
	@scripts/deps.sh

test-deps:
	@scripts/deps.sh --test

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DPOSTERN_TESTS=OFF >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

run: build
	$(BUILD)/postern serve

test: test-deps
	cmake -S . -B $(TEST_BUILD) -DCMAKE_BUILD_TYPE=Debug -DPOSTERN_SANITIZE=ON -DPOSTERN_TESTS=ON >/dev/null
	cmake --build $(TEST_BUILD) -j $(JOBS)
	cd $(TEST_BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 600

fuzz: test-deps
	CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPOSTERN_FUZZ=ON -DPOSTERN_TESTS=OFF >/dev/null
	cmake --build build-fuzz -j $(JOBS)
	scripts/run-fuzz.sh build-fuzz

bench: build
	bench/run

clean:
	rm -rf $(BUILD) $(TEST_BUILD) build-fuzz
