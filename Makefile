# Thin wrapper: every target installs what it needs, then drives CMake and the
# test runners. `make demo` and `make test` are the two commands of the README.
SHELL := /bin/bash
JOBS ?= 2
FUZZ_SECONDS ?= 20
BUILD := build
ASAN := build-asan
FUZZ := build-fuzz

.PHONY: all deps build build-asan build-fuzz demo test unit golden parquet fuzz integration kafka-fetch bench clean

all: build

deps:
	@bash scripts/deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

build-asan: deps
	@cmake -S . -B $(ASAN) -DCMAKE_BUILD_TYPE=Debug -DEDDY_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN) -j$(JOBS)

build-fuzz: deps
	@CC=clang cmake -S . -B $(FUZZ) -DCMAKE_BUILD_TYPE=Debug -DEDDY_FUZZ=ON -DEDDY_TESTS=OFF >/dev/null
	@cmake --build $(FUZZ) -j$(JOBS)

demo: build
	@$(BUILD)/eddy demo --http 127.0.0.1:8080

kafka-fetch: deps
	@scripts/kafka fetch

# Unit tests in release and under ASan+UBSan, golden tests, a short fuzz run
# of every harness, then integration tests against a real Kafka broker.
test: deps kafka-fetch build build-asan build-fuzz
	@$(MAKE) --no-print-directory unit golden parquet fuzz integration

unit:
	@echo "== unit tests (release)"
	@tests/unit/run.sh $(BUILD)
	@echo "== unit tests (asan+ubsan)"
	@tests/unit/run.sh $(ASAN)

golden:
	@echo "== golden tests"
	@tests/golden/run.sh $(BUILD)/eddy
	@tests/golden/run.sh $(ASAN)/eddy

# Parquet files of the writer read back by pyarrow and duckdb (Python venv of scripts/pyenv)
parquet:
	@echo "== parquet reader tests"
	@tests/parquet/run.sh $(BUILD)
	@tests/parquet/run.sh $(ASAN)

fuzz:
	@echo "== fuzzing, $(FUZZ_SECONDS) s per harness"
	@tests/fuzz/run.sh $(FUZZ) $(FUZZ_SECONDS)

integration:
	@echo "== integration tests (real Kafka broker)"
	@tests/integration/run.sh $(BUILD)

bench: build
	@bench/run.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN) $(FUZZ)
