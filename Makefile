# `sam build` (BuildMethod: makefile) runs `make build-<LogicalId>` with ARTIFACTS_DIR set and
# tells the Makefile nothing else, so the architecture comes from ARCH, which must match the
# template's Architecture parameter (both default to arm64):
#
#   sam build                                                  # arm64
#   ARCH=x86_64 sam build --parameter-overrides Architecture=x86_64
#
# With cargo-lambda on PATH (scripts/ensure-venv.sh installs it) the functions are built for
# Amazon Linux 2023: cross-built through zig with a glibc 2.17 baseline when ARCH is not the
# host's (arm64 on an x86_64 machine), a plain cargo build when it is (x86_64 on x86_64: it
# needs glibc 2.30, AL2023 has 2.34). Without cargo-lambda, a plain host build is used, refused
# when the host's architecture differs from ARCH.
#
# Lambda builds are lean: LAMBDA_FEATURES (default: none) instead of the functions' default
# `embedded` feature, so the bundled SQLite of the embedded store is left out (Lambda uses
# DynamoDB); the db function has no log-in code either (README, "Build features").

ARCH ?= arm64
CARGO ?= cargo
MINIAPP_VENV ?= $(HOME)/.cache/miniapp/venv
LAMBDA_FEATURES ?=
TARGET_DIR := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)
LAMBDA_DIR := $(TARGET_DIR)/lambda

.PHONY: build-SessionFunction build-DbFunction package-alipay-certs dev test fmt lint

build-SessionFunction:
	$(call build-function,session)
	@$(MAKE) --no-print-directory package-alipay-certs

# Alipay's certificate mode: the three certificates (about 8 KB) exceed the 4 KB of environment
# Lambda allows, so they travel in the package. Put them in alipay-certs/ (public certificates,
# not secrets) and give the template's AlipayAppCert, AlipayPublicCert and AlipayRootCert as
# alipay-certs/<file name>: the function reads relative paths from its package root.
ALIPAY_CERTS_DIR ?= $(CURDIR)/alipay-certs

package-alipay-certs:
	@set -eu; \
	test -n "$(ARTIFACTS_DIR)" || { echo "ARTIFACTS_DIR is not set: run this through 'sam build'" >&2; exit 1; }; \
	set -- "$(ALIPAY_CERTS_DIR)"/*.crt; \
	if [ -e "$$1" ]; then \
	  mkdir -p "$(ARTIFACTS_DIR)/alipay-certs"; \
	  cp "$$@" "$(ARTIFACTS_DIR)/alipay-certs/"; \
	  echo "packaged $$# Alipay certificate(s) from $(ALIPAY_CERTS_DIR)"; \
	fi

build-DbFunction:
	$(call build-function,db)

# $(1): the cargo binary; the result is $(ARTIFACTS_DIR)/bootstrap.
define build-function
	@set -eu; \
	test -n "$(ARTIFACTS_DIR)" || { echo "ARTIFACTS_DIR is not set: run this through 'sam build'" >&2; exit 1; }; \
	case "$(ARCH)" in \
	  arm64) lambda_arch=--arm64; machine=aarch64 ;; \
	  x86_64) lambda_arch=--x86-64; machine=x86_64 ;; \
	  *) echo "ARCH must be arm64 or x86_64, not '$(ARCH)'" >&2; exit 1 ;; \
	esac; \
	mkdir -p "$(ARTIFACTS_DIR)"; \
	if command -v cargo-lambda >/dev/null 2>&1; then \
	  echo "cargo lambda build --release $$lambda_arch -p $(1) --no-default-features --bin $(1)"; \
	  $(CARGO) lambda build --release --locked $$lambda_arch -p $(1) --no-default-features \
	    --features "$(LAMBDA_FEATURES)" --bin $(1) --lambda-dir "$(LAMBDA_DIR)"; \
	  cp "$(LAMBDA_DIR)/$(1)/bootstrap" "$(ARTIFACTS_DIR)/bootstrap"; \
	else \
	  if [ "$$(uname -m)" != "$$machine" ]; then \
	    echo "cargo-lambda is not on PATH and this host is $$(uname -m), not $(ARCH):" \
	      "run 'bash scripts/ensure-venv.sh' and put $(MINIAPP_VENV)/bin on PATH" >&2; \
	    exit 1; \
	  fi; \
	  echo "cargo-lambda not found: plain host build, which runs on AL2023 only if this host's glibc is 2.34 or older" >&2; \
	  $(CARGO) build --release --locked -p $(1) --no-default-features \
	    --features "$(LAMBDA_FEATURES)" --bin $(1); \
	  cp "$(TARGET_DIR)/release/$(1)" "$(ARTIFACTS_DIR)/bootstrap"; \
	fi; \
	chmod 755 "$(ARTIFACTS_DIR)/bootstrap"
endef

# The local emulator (`miniapp dev`) on 127.0.0.1:3000.
dev:
	$(CARGO) run --release --locked -p miniapp -- dev

# The whole gate: the README's one test command.
test:
	bash scripts/test.sh

fmt:
	$(CARGO) fmt --all

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	AWS_DEFAULT_REGION=us-east-1 "$(MINIAPP_VENV)/bin/cfn-lint" -- template.yaml
