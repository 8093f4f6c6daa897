# mightycall-token-refresher: build, test, demo and deploy.
# Everything a target needs is installed by the target itself, into .tools/.

SHELL        := /bin/bash
.SHELLFLAGS  := -eu -o pipefail -c
GOARCH       ?= arm64
GO           ?= go
TOOLS        := $(CURDIR)/.tools
VENV         := $(TOOLS)/venv
RIE_MODULE   := github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie
RIE_VERSION  := v0.0.0-20261030222936-bef5c4ba774d
MOTO_VERSION := 5.2.1
# Go flags of every Lambda binary: static, no RPC mode (provided.al2023 uses the runtime API), small.
LAMBDA_FLAGS := -trimpath -tags lambda.norpc -ldflags="-s -w"

export PATH := $(TOOLS)/bin:$(VENV)/bin:$(PATH)

.PHONY: all build build-RefresherFunction cli test unit integration vet lint-template tools go-tools python-tools \
        demo simulate bench fuzz deploy delete clean

all: build

## build: bin/bootstrap for Lambda (linux, GOARCH=arm64 unless overridden)
build:
	CGO_ENABLED=0 GOOS=linux GOARCH=$(GOARCH) $(GO) build $(LAMBDA_FLAGS) -o bin/bootstrap ./cmd/refresher
	@echo "built bin/bootstrap (linux/$(GOARCH), $$(stat -c %s bin/bootstrap) bytes)"

## build-RefresherFunction: SAM's makefile build hook (sam build sets ARTIFACTS_DIR)
build-RefresherFunction:
	@test -n "$(ARTIFACTS_DIR)" || { echo "ARTIFACTS_DIR is not set (sam build sets it)"; exit 2; }
	CGO_ENABLED=0 GOOS=linux GOARCH=$(GOARCH) $(GO) build $(LAMBDA_FLAGS) -o "$(ARTIFACTS_DIR)/bootstrap" ./cmd/refresher

## cli: bin/mctoken, the operator's command-line companion, for this machine
cli:
	$(GO) build -trimpath -o bin/mctoken ./cmd/mctoken

## tools: the Lambda runtime emulator and the Python tools (moto_server, cfn-lint)
tools: go-tools python-tools

go-tools: $(TOOLS)/bin/aws-lambda-rie

$(TOOLS)/bin/aws-lambda-rie:
	$(GO) mod download
	GOBIN=$(TOOLS)/bin $(GO) install $(RIE_MODULE)@$(RIE_VERSION)

# Use moto_server, cfn-lint and samtranslator where the machine has them;
# otherwise install them into a virtualenv, failing fast when PyPI is out of reach.
python-tools:
	@if command -v moto_server >/dev/null && command -v cfn-lint >/dev/null \
	    && python3 -c 'import moto, samtranslator, boto3' 2>/dev/null; then exit 0; fi; \
	echo "moto_server / cfn-lint / aws-sam-translator missing: installing them into $(VENV)"; \
	command -v python3 >/dev/null || { echo "error: python3 is required (Python 3.9 or newer)"; exit 1; }; \
	python3 -m venv "$(VENV)" || { echo "error: python3 -m venv failed (on Debian: apt-get install python3-venv)"; exit 1; }; \
	"$(VENV)/bin/pip" install --quiet --disable-pip-version-check --timeout 20 --retries 1 \
	    "moto[server]==$(MOTO_VERSION)" "cfn-lint>=1.51,<2" aws-sam-translator boto3 \
	  || { echo "error: could not install moto[server]==$(MOTO_VERSION), cfn-lint and aws-sam-translator from PyPI."; \
	       echo "       Install them yourself (pip install 'moto[server]==$(MOTO_VERSION)' cfn-lint aws-sam-translator boto3)"; \
	       echo "       so that moto_server and cfn-lint are on PATH, then run make again."; exit 1; }

## vet: go vet, with and without the integration tag
vet:
	$(GO) vet ./...
	$(GO) vet -tags integration ./...

## lint-template: cfn-lint on the SAM template
lint-template: python-tools
	cfn-lint template.yaml
	@echo "template.yaml: cfn-lint clean"

## test: everything CI runs
test: tools vet
	$(GO) test -race -count=1 -timeout 15m -tags integration ./...
	$(MAKE) --no-print-directory lint-template

## unit: the fast unit tests only (no moto, no emulator)
unit:
	$(GO) test -race -count=1 ./...

## demo: the whole job end to end on local emulators, tokens masked
demo: tools
	$(GO) run ./cmd/demo

## simulate: 30 days of schedule ticks and rotations with faults, on a virtual clock (SIMFLAGS="-seed 1 -outage-start 240h -outage 24h")
simulate:
	$(GO) run ./cmd/simulate $(SIMFLAGS)

## fuzz: run each fuzz target for FUZZTIME (default 30s)
FUZZTIME ?= 30s
fuzz:
	@for spec in $$(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u); do \
	  for f in $$(grep -h '^func Fuzz' $$spec/*_test.go | sed 's/func \(Fuzz[A-Za-z0-9_]*\).*/\1/'); do \
	    echo "fuzz $$spec $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$spec; \
	  done; \
	done

## bench: SPEC section 7 figures on moto_server, the MightyCall emulator and the runtime emulator; table on stdout, bench/results.json (BENCHFLAGS="-latency 20ms -concurrency 10,50,100"; go doc ./bench)
bench: tools
	$(GO) run ./bench -out bench/results.json $(BENCHFLAGS)

## deploy: sam build and sam deploy with samconfig.toml (needs the SAM CLI and AWS credentials)
deploy:
	@command -v sam >/dev/null || { echo "error: the AWS SAM CLI is required: https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/install-sam-cli.html"; exit 1; }
	sam build
	sam deploy $(DEPLOY_ARGS)

## delete: sam delete of the stack
delete:
	@command -v sam >/dev/null || { echo "error: the AWS SAM CLI is required"; exit 1; }
	sam delete

clean:
	rm -rf bin .aws-sam
