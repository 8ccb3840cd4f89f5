# Every target that builds Go code first runs the libtensorflow setup, which
# installs the pinned TensorFlow wheel once (see third_party/libtensorflow).
SHELL := /bin/bash
SETUP := third_party/libtensorflow/setup.sh
TFENV = set -euo pipefail; eval "$$($(SETUP) --env)";
DEMO_CONFIG ?=
BENCH_ARGS ?=
GOTEST_FLAGS ?= -count=1 -timeout 30m

.PHONY: results precision all setup build gpu-check test-setup test test-go test-python fuzz demo bench bench-tiny bench-compare bench-http vet fmt-check data smoke faults clean

all: build

setup:
	@$(SETUP)

build: setup
	@$(TFENV) go build -o bin/simsiam ./cmd/simsiam

vet: setup
	@$(TFENV) go vet ./...

fmt-check:
	@out="$$(gofmt -l $$(git ls-files '*.go'))"; if [[ -n "$$out" ]]; then echo "gofmt needed: $$out"; exit 1; fi

# Debian's dataset-fashion-mnist: the real data the demo and some tests use.
data:
	@third_party/datasets/fashion_mnist.sh

test: setup data fmt-check vet test-setup test-go test-python

# setup.sh's failure paths (each names what failed; a partial install is redone).
test-setup:
	@bash tests/setup_test.sh

test-go:
	@$(TFENV) go test $(GOTEST_FLAGS) ./...

test-python: build
	@$(TFENV) "$$SIMSIAM_PYTHON" -m pytest -q tests/python

# Every fuzz target of every package that has one (data readers, the YAML
# config loader, TF_CONFIG, the checkpoint index reader), FUZZTIME each.
fuzz: setup
	@$(TFENV) tests/fuzz.sh

# Every subcommand end to end on a tiny run (CI runs this).
smoke: build data
	@$(TFENV) tests/smoke.sh

# The fault suite on the real binary: signals, kill -9 loop, disk full (a
# tmpfs: needs root, as in CI; fails where mounting is refused), NaN, two
# runs, crash output (CI runs this after smoke).
faults: build data
	@$(TFENV) tests/faults.sh

# Pretrain on Fashion-MNIST with the demo preset (kNN monitor after every
# epoch), then linear evaluation of the frozen encoder.
DEMO_OUT ?= runs/fashion_mnist_demo
demo: build data
	@rm -rf $(DEMO_OUT)
	@./bin/simsiam train $(if $(DEMO_CONFIG),--config $(DEMO_CONFIG),) --set output_dir=$(DEMO_OUT)
	@./bin/simsiam linear-eval $(if $(DEMO_CONFIG),--config $(DEMO_CONFIG),) --set output_dir=$(DEMO_OUT) --checkpoint $(DEMO_OUT)/checkpoints

# The README's results table as data: the demo run's encoder next to the
# same network at random init and raw pixels, measured the same way (kNN at
# k = 1, 20, 200; linear at 10, 30, 90 epochs), written to
# results/fashion_mnist.json, then the README table and docs/knn_curve.svg
# rendered from it (run after make demo).
RESULTS_JSON ?= results/fashion_mnist.json
results: build data
	@./bin/simsiam results measure --config $(DEMO_OUT)/config.yaml --run $(DEMO_OUT) --out $(RESULTS_JSON) --k 1,20,200 --linear-epochs 10,30,90
	@./bin/simsiam results render --in $(RESULTS_JSON) --readme README.md --plot docs/knn_curve.svg

# fp32 against bf16 training of the demo preset (same seed), each measured
# in fp32 into results/precision/, then the precision table of
# docs/precision.md and docs/precision_curves.svg (results/precision.sh;
# bf16 is emulated, and slow, on CPUs without AMX-BF16 or AVX512-BF16).
precision: build data
	@results/precision.sh

bench: build
	@$(TFENV) go test -run XXX -bench . -benchtime 3x $(BENCH_ARGS) ./...

# Go vs Python (Keras) comparison: writes bench/results.{json,md} and
# docs/batch_scaling.png. bench-tiny is CI's check that the harness runs
# (< 3 minutes); it writes under bench/.build so committed results stay.
bench-tiny: setup
	@bash bench/run.sh --tiny --out bench/.build/tiny

bench-compare: setup
	@bash bench/run.sh $(BENCH_COMPARE_ARGS)

# simsiam serve under load on loopback (2,000 requests from 16 clients, 3
# rounds) against embed's batch throughput: writes bench/results-http.{md,json}.
BENCH_HTTP_ARGS ?= -requests 2000 -clients 16 -rounds 3
bench-http: setup
	@$(TFENV) go run ./bench/httpload $(BENCH_HTTP_ARGS) -out bench/results-http.md

# The GPU build checked without a GPU: installs tensorflow[and-cuda] (4.6 GB,
# once), checks that bin/gpu/simsiam finds CUDA with an empty environment and
# rewrites internal/placement/gpu-kernels.tsv. Not in CI.
gpu-check:
	@third_party/libtensorflow/gpu-check.sh

clean:
	rm -rf bin runs
