# streamgate: a thin wrapper over meson for the commands in the README.
#
#   make run    install what is missing, build, run with etc/streamgate.conf
#   make demo   the same against the simulated upstreams (tests/fakes)
#   make test   install what is missing, build, run every test twice
#               (release build, then ASan+UBSan), then the fuzzers briefly
#   make bench  the benchmarks under bench/

BUILD  ?= build
ASAN   ?= build-asan
FUZZ   ?= build-fuzz
CONF   ?= etc/streamgate.conf
FUZZ_SECONDS ?= 20

BUILD_DEPS = gcc meson ninja-build pkg-config libevent-dev libcurl4-openssl-dev \
	libxml2-dev libconfig-dev libssl-dev liblua5.4-dev libavformat-dev libavcodec-dev \
	libswresample-dev libavutil-dev libsqlite3-dev zlib1g-dev libjansson-dev \
	libunistring-dev libhiredis-dev libwebsockets-dev
DEMO_DEPS  = ffmpeg python3 python3-websockets
TEST_DEPS  = $(DEMO_DEPS) python3-pytest curl prometheus xmltv-util libxml2-utils \
	iproute2 util-linux procps clang libclang-rt-14-dev chromium mpv \
	redis-server

.PHONY: all deps build run demo test test-release test-asan test-fuzz bench clean

all: build

deps:
	@.ci/apt-ensure $(BUILD_DEPS)

$(BUILD)/build.ninja:
	meson setup $(BUILD) --buildtype=release

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

run: build
	./$(BUILD)/streamgate -c $(CONF)

demo: build
	@.ci/apt-ensure $(DEMO_DEPS)
	tests/fakes/demo.sh $(BUILD)

test: build
	@.ci/apt-ensure $(TEST_DEPS)
	$(MAKE) --no-print-directory test-release test-asan test-fuzz

test-release:
	.ci/netns meson test -C $(BUILD) --print-errorlogs --num-processes 2

$(ASAN)/build.ninja:
	meson setup $(ASAN) -Dbuildtype=debug -Db_sanitize=address,undefined -Db_lundef=false

test-asan: $(ASAN)/build.ninja
	ninja -C $(ASAN)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		.ci/netns meson test -C $(ASAN) --print-errorlogs --num-processes 2 --timeout-multiplier 3 \
		--no-suite fuzz

$(FUZZ)/build.ninja:
	CC=clang meson setup $(FUZZ) -Dfuzz=true -Dfuzz_seconds=$(FUZZ_SECONDS) -Dbuildtype=debug \
		-Db_sanitize=address,undefined -Db_lundef=false

test-fuzz: $(FUZZ)/build.ninja
	ninja -C $(FUZZ)
	meson test -C $(FUZZ) --suite fuzz --print-errorlogs --num-processes 2

bench: build
	@.ci/apt-ensure $(DEMO_DEPS) curl nginx-light wrk vlc-bin vlc-plugin-base iproute2 util-linux \
		xmltv-util time
	bench/foundation.sh $(BUILD)
	bench/live.sh $(BUILD)
	bench/movistar.sh $(BUILD)
	bench/catchup.sh $(BUILD)
	bench/record.sh $(BUILD)
	bench/hls_pvr.sh $(BUILD)
	bench/4gtv.sh $(BUILD)
	bench/ustream.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN) $(FUZZ)
