# nettrail: `make demo` and `make test` set up what they need, idempotently.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMPS := .stamps
BPF_DIR := src/nettrail/trace/bpf
BPF_OBJ := $(BPF_DIR)/trace.bpf.o
SCAN_C := src/nettrail/capture/_scan.c
SCAN_SO := src/nettrail/capture/_scan$(shell $(PYTHON) -c \
	'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))' 2>/dev/null)
APT_PACKAGES := clang llvm bpftool libbpf-dev libbpf1 tcpdump tshark iproute2 iptables nftables \
	conntrack openssh-server openssh-client iperf3 ethtool procps kmod chromium \
	socat faketime openvswitch-switch pdsh pssh ansible-core python3-dev
PYTEST_ARGS ?=

.PHONY: setup apt venv bpf scan demo test lint unit bench clean

setup: apt venv bpf scan

apt: $(STAMPS)/apt
$(STAMPS)/apt: Makefile
	@mkdir -p $(STAMPS)
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null \
		| grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:" $$missing; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
			--no-install-recommends $$missing; \
	fi
	@touch $@

venv: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test]'
	@touch $@

bpf: $(BPF_OBJ)
$(BPF_DIR)/vmlinux.h: | $(STAMPS)/apt
	bpftool btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp && mv $@.tmp $@
$(BPF_OBJ): $(wildcard $(BPF_DIR)/*.c $(BPF_DIR)/*.h) $(BPF_DIR)/vmlinux.h
	@if [ -f $(BPF_DIR)/trace.bpf.c ]; then \
		clang -g -O2 -target bpf -D__TARGET_ARCH_x86 -I$(BPF_DIR) -c $(BPF_DIR)/trace.bpf.c -o $@; \
	else echo "no BPF source yet"; fi

# the tcpdump text scanner (text_fast._LINE.findall, compiled; the pattern is used without it)
scan: $(SCAN_SO)
$(SCAN_SO): $(SCAN_C) | $(STAMPS)/apt
	clang -O2 -DNDEBUG -Wall -Wextra -Werror -shared -fPIC \
		-I$$($(PYTHON) -c 'import sysconfig; print(sysconfig.get_paths()["include"])') \
		$(SCAN_C) -o $@.tmp && mv $@.tmp $@

demo: setup
	$(VENV)/bin/nettrail demo

lint: setup
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy

unit: setup
	$(PY) -m pytest tests/unit tests/golden -q $(PYTEST_ARGS)

test: setup lint
	$(PY) -m pytest -q $(PYTEST_ARGS)

bench: setup
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) $(STAMPS) build dist $(BPF_OBJ) $(BPF_DIR)/vmlinux.h $(SCAN_SO)
