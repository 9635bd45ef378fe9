# Front door. `make` builds build/postern (release); `make run` sets up and
# serves on the embedded defaults; `make test` builds with ASan/UBSan and
# runs every unit and integration test through ctest.
JOBS ?= $(shell nproc)
BUILD ?= build
TEST_BUILD ?= build-test

.PHONY: all deps test-deps build run test fuzz bench install clean

PREFIX ?= /usr/local
DESTDIR ?=
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
UNITDIR ?= $(if $(filter /usr,$(PREFIX)),/lib/systemd/system,$(PREFIX)/lib/systemd/system)

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

# The binary, the sendmail and mailq links, the systemd unit and (when
# there is none yet) an example configuration. Builds first if needed.
install:
	@test -x $(BUILD)/postern || $(MAKE) build
	install -D -m 0755 $(BUILD)/postern $(DESTDIR)$(BINDIR)/postern
	install -d $(DESTDIR)$(SBINDIR)
	ln -sf $(BINDIR)/postern $(DESTDIR)$(SBINDIR)/sendmail
	ln -sf $(BINDIR)/postern $(DESTDIR)$(BINDIR)/mailq
	install -d $(DESTDIR)$(UNITDIR)
	sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' packaging/postern.service.in \
	  > $(DESTDIR)$(UNITDIR)/postern.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/postern.service
	install -D -m 0644 packaging/postern.toml $(DESTDIR)$(PREFIX)/share/doc/postern/postern.toml.example
	@if [ ! -e $(DESTDIR)$(SYSCONFDIR)/postern/postern.toml ]; then \
	  install -D -m 0640 packaging/postern.toml $(DESTDIR)$(SYSCONFDIR)/postern/postern.toml; fi

clean:
	rm -rf $(BUILD) $(TEST_BUILD) build-fuzz
