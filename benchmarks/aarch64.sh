#!/usr/bin/env bash
# The runtime on a Raspberry Pi's architecture (aarch64), proven under emulation and compared with x86.
#
#   nice -n 10 bash benchmarks/aarch64.sh [--fresh] [--cpus cortex-a72,cortex-a76] [--frames 30] [--out DIR]
#
# Builds (once, cached) an aarch64 Python 3.11 from Debian 12's arm64 packages, run by qemu-user; installs the
# runtime-only edge-fer built from this working tree into it with aarch64 wheels (numpy, opencv-python-headless,
# typer, rich, ai-edge-litert, onnxruntime); runs the same commands there and with the host's x86 Python:
#   edge-fer predict IMAGE --json                                   (a JPEG: both decode identical pixels)
#   edge-fer webcam --source CLIP --headless --max-frames N --threads 4 --json-out ...
#       CLIP = the first N frames of the video re-encoded losslessly (FFV1): identical pixels on both
#   edge-fer webcam --source VIDEO ... the H.264 video itself, which each platform's OpenCV decodes itself
# each with the TFLite (shipped int8) and the ONNX backend, and on each emulated CPU: cortex-a72 is a Pi 4's
# core, cortex-a76 a Pi 5's (with dot-product and fp16 instructions, so XNNPACK takes other kernels). Then it
# compares every aarch64 output with x86's (same faces and labels; probabilities within --tol on identical
# pixels, --video-tol on the H.264 video, whose decoded frames differ by a few levels; see lossless_clip.py)
# and ends with one line on stdout that starts "aarch64:" with the verdict.
#
# Emulated speed says nothing about a Pi's speed: no time measured here is reported.
#
# Needs (no root, no binfmt_misc, no kernel module, no container):
#   - an x86_64 Linux host with apt-get and dpkg-deb (Debian or a derivative) whose apt sources are Debian 12
#     "bookworm" (or EDGE_FER_APT_SOURCES=FILE naming such a sources file); apt runs with its own state under
#     the cache, so the host's package database is neither read nor changed;
#   - qemu-aarch64-static or qemu-aarch64 on PATH (Debian: apt-get install qemu-user-static), or else the script
#     fetches Debian's qemu-user-static package and unpacks the one binary into the cache;
#   - a host Python (PYTHON, default python3) with pip, setuptools, wheel and packaging (to build and read the wheel), and edge-fer's
#     runtime dependencies with onnxruntime (pip install -e ".[onnx]"), for the x86 reference runs;
#   - the package archives (first run only: ~85 MiB of .deb, ~90 MiB of wheels) and ~1 GiB of disk in the cache;
#   - the sample media: $EDGE_FER_SHARED (default ../shared)/media/{group-six-faces.jpg,woman-with-phone.mp4}.
#
# Cache: ${EDGE_FER_CACHE:-~/.cache/edge-fer}/aarch64 (EDGE_FER_AARCH64_CACHE overrides); --fresh empties it
# first; one run at a time per cache (a lock). Outputs and logs: DIR (default CACHE/out): x86/, cortex-a72/, ... with one .jsonl and .log per run,
# comparisons.jsonl, sizes.txt, versions.txt.
#
# Exit codes: 0 PASS, 1 FAIL (a run crashed or disagreed with x86), 2 bad usage or missing input/needs,
# 3 a setup step failed (network, apt, pip).

set -Eeuo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PROG=aarch64.sh
PY=${PYTHON:-python3}
SHARED=${EDGE_FER_SHARED:-../shared}
CACHE=${EDGE_FER_AARCH64_CACHE:-${EDGE_FER_CACHE:-$HOME/.cache/edge-fer}/aarch64}
OUT=""
CPUS="cortex-a72,cortex-a76"
FRAMES=30
TOL=0.02
VIDEO_TOL=0.05
FRESH=0
RUN_TIMEOUT=${EDGE_FER_AARCH64_RUN_TIMEOUT:-1800}
# The packages whose dependency closure makes the aarch64 root: the interpreter and the C/C++ runtime the
# manylinux wheels expect from the system (libstdc++, libgcc_s, libc, libz).
DEB_ROOTS=(python3.11 libstdc++6 libgcc-s1 zlib1g)
STEP="starting"
START=$SECONDS

usage() {
    sed -n '2,/^$/{s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
    cat <<EOF
Options:
  --fresh            empty the cache first (a clean build of everything)
  --cpus LIST        emulated CPUs, comma-separated: cortex-a72 (Pi 4), cortex-a76 (Pi 5) [$CPUS]
  --frames N         video frames per webcam run [$FRAMES]
  --tol P            largest probability difference on identical pixels [$TOL]
  --video-tol P      largest probability difference on the H.264 video [$VIDEO_TOL]
  --out DIR          outputs and logs [CACHE/out]
  -h, --help         this text
EOF
}

die() {  # usage or input problem: one line, exit 2
    echo "$PROG: error: $*" >&2
    trap - ERR
    exit 2
}

log() { echo "$PROG: [$((SECONDS - START))s] $*" >&2; }

# shellcheck disable=SC2317  # called by the ERR trap
on_error() {
    local rc=$?
    trap - ERR
    echo "aarch64: ERROR ($(date -u +%F)): $STEP failed (exit $rc); see the messages above"
    exit 3
}
trap on_error ERR

is_number() { [[ $1 =~ ^[0-9]+([.][0-9]+)?$ ]]; }

parse_args() {
    while [ $# -gt 0 ]; do
        case $1 in
            --fresh) FRESH=1 ;;
            --cpus|--frames|--tol|--video-tol|--out)
                [ $# -ge 2 ] || die "$1 needs a value; see --help"
                case $1 in
                    --cpus) CPUS=$2 ;;
                    --frames) FRAMES=$2 ;;
                    --tol) TOL=$2 ;;
                    --video-tol) VIDEO_TOL=$2 ;;
                    --out) OUT=$2 ;;
                esac
                shift ;;
            -h|--help) usage; exit 0 ;;
            *) die "unknown argument '$1'; see --help" ;;
        esac
        shift
    done
    [[ $FRAMES =~ ^[1-9][0-9]*$ ]] || die "--frames '$FRAMES': give a whole number >= 1"
    is_number "$TOL" || die "--tol '$TOL': give a number such as 0.02"
    is_number "$VIDEO_TOL" || die "--video-tol '$VIDEO_TOL': give a number such as 0.05"
    local cpu
    for cpu in ${CPUS//,/ }; do
        cpu_part "$cpu" >/dev/null || die "--cpus: unknown CPU '$cpu'; choose from cortex-a72 (Pi 4), cortex-a76 (Pi 5)"
    done
    [ -n "${CPUS//,/}" ] || die "--cpus is empty; choose from cortex-a72, cortex-a76"
    CACHE=$(realpath -m "$CACHE")
    OUT=$(realpath -m "${OUT:-$CACHE/out}")
}

# "implementer part variant revision features" of the emulated CPUs, as a Pi's /proc/cpuinfo shows them
# (Pi 4: BCM2711, Cortex-A72 r0p3; Pi 5: BCM2712, Cortex-A76 r4p1).
cpu_part() {
    case $1 in
        cortex-a72) echo "0x41 0xd08 0x0 3 fp asimd evtstrm crc32 cpuid" ;;
        cortex-a76) echo "0x41 0xd0b 0x4 1 fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp" ;;
        *) return 1 ;;
    esac
}

# qemu-user 7.2 (Debian 12) shows the guest the host's own /proc/cpuinfo (x86 text); the cpuinfo library
# inside XNNPACK (TFLite) and onnxruntime then finds no ARM cores and crashes (SIGSEGV) on loading a model.
# qemu resolves guest paths inside the -L prefix first, so an aarch64 /proc/cpuinfo there is what the guest
# reads; it matches the -cpu model (qemu >= 8.1 emulates the file itself and ignores this one).
write_cpuinfo() {
    local cpu=$1 n i implementer part variant revision features
    read -r implementer part variant revision features <<<"$(cpu_part "$cpu")"
    n=$(getconf _NPROCESSORS_CONF)
    mkdir -p "$ROOT/proc"
    for ((i = 0; i < n; i++)); do
        printf 'processor\t: %d\nBogoMIPS\t: 108.00\nFeatures\t: %s\nCPU implementer\t: %s\n' "$i" "$features" "$implementer"
        printf 'CPU architecture: 8\nCPU variant\t: %s\nCPU part\t: %s\nCPU revision\t: %s\n\n' "$variant" "$part" "$revision"
    done >"$ROOT/proc/cpuinfo"
}

check_host() {
    STEP="checking the host"
    [ "$(uname -s)" = Linux ] || die "needs Linux (qemu-user); this is $(uname -s)"
    [ "$(uname -m)" = x86_64 ] || die "needs an x86_64 host for the reference runs; this is $(uname -m)"
    local tool
    for tool in apt-get apt-cache dpkg-deb dpkg tar sha256sum timeout flock realpath; do
        command -v "$tool" >/dev/null || die "needs $tool (a Debian-based host); not found on PATH"
    done
    command -v "$PY" >/dev/null || die "host Python '$PY' not found; set PYTHON=/path/to/python"
    "$PY" -m pip --version >/dev/null 2>&1 || die "$PY has no pip; python -m ensurepip"
    "$PY" -c "import setuptools, wheel, packaging" 2>/dev/null \
        || die "$PY lacks setuptools, wheel or packaging (to build the wheel); pip install setuptools wheel packaging"
    "$PY" -c "import numpy, cv2, typer, rich, onnxruntime" 2>/dev/null \
        || die "$PY lacks edge-fer's runtime for the x86 reference; pip install -e '.[onnx]'"
    IMAGE=$SHARED/media/group-six-faces.jpg
    VIDEO=$SHARED/media/woman-with-phone.mp4
    local f
    for f in "$IMAGE" "$VIDEO"; do
        [ -f "$f" ] || die "$f not found; set EDGE_FER_SHARED to the folder holding media/"
    done
    IMAGE=$(cd "$(dirname "$IMAGE")" && pwd)/$(basename "$IMAGE")
    VIDEO=$(cd "$(dirname "$VIDEO")" && pwd)/$(basename "$VIDEO")
    if [ -n "${EDGE_FER_APT_SOURCES:-}" ] && [ ! -f "$EDGE_FER_APT_SOURCES" ]; then
        die "EDGE_FER_APT_SOURCES=$EDGE_FER_APT_SOURCES: no such file"
    fi
}

fresh_cache() {
    STEP="emptying the cache"
    log "emptying $CACHE"
    rm -rf "$CACHE/apt" "$CACHE/debs" "$CACHE/root" "$CACHE"/root.tmp* "$CACHE/wheels" "$CACHE"/site-* \
        "$CACHE"/qemu* "$CACHE/out"
}

apt_options() {  # apt with its own state under the cache: no root needed, the host's dpkg untouched
    local host_arch
    host_arch=$(dpkg --print-architecture)
    APT=(-q -o "Dir::State=$CACHE/apt/state" -o "Dir::State::Lists=$CACHE/apt/lists"
        -o "Dir::State::status=$CACHE/apt/status" -o "Dir::Cache=$CACHE/apt/cache"
        -o "APT::Architecture=arm64" -o "APT::Architectures::=arm64" -o "APT::Architectures::=$host_arch"
        -o "APT::Sandbox::User=$(id -un)" -o "Debug::NoLocking=true")
    if [ -n "${EDGE_FER_APT_SOURCES:-}" ]; then
        APT+=(-o "Dir::Etc::SourceList=$(realpath "$EDGE_FER_APT_SOURCES")" -o "Dir::Etc::SourceParts=$CACHE/apt/no-parts")
    fi
    mkdir -p "$CACHE/apt/state" "$CACHE/apt/lists/partial" "$CACHE/apt/cache/archives/partial" "$CACHE/apt/no-parts"
    touch "$CACHE/apt/status"
}

ensure_apt_lists() {
    [ -f "$CACHE/apt/.updated" ] && return
    STEP="apt-get update (arm64 package lists)"
    log "fetching the arm64 package lists"
    apt-get "${APT[@]}" update >"$CACHE/apt/update.log" 2>&1 || { cat "$CACHE/apt/update.log" >&2; false; }
    touch "$CACHE/apt/.updated"
}

ensure_root() {
    ROOT=$CACHE/root
    if [ -f "$ROOT/.edge-fer-ready" ]; then
        log "aarch64 root: cached ($ROOT)"
        return
    fi
    apt_options
    ensure_apt_lists
    STEP="resolving the arm64 packages"
    local pkgs
    pkgs=$(apt-cache "${APT[@]}" depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
        --no-replaces --no-enhances "${DEB_ROOTS[@]}" | grep -E '^[a-z0-9][a-z0-9.+-]*$' | sort -u)
    grep -qx python3.11 <<<"$pkgs" \
        || die "the apt sources offer no arm64 python3.11; point EDGE_FER_APT_SOURCES at Debian 12 (bookworm) sources"
    STEP="downloading $(wc -w <<<"$pkgs") arm64 packages"
    log "$STEP"
    rm -rf "$CACHE/debs" && mkdir -p "$CACHE/debs"
    # shellcheck disable=SC2086
    (cd "$CACHE/debs" && apt-get "${APT[@]}" download $pkgs >"$CACHE/apt/download.log" 2>&1) \
        || { cat "$CACHE/apt/download.log" >&2; false; }
    STEP="unpacking the arm64 packages"
    local tmp=$CACHE/root.tmp.$$ deb
    rm -rf "$tmp" && mkdir -p "$tmp"
    for deb in "$CACHE"/debs/*.deb; do dpkg-deb -x "$deb" "$tmp"; done
    [ -x "$tmp/usr/bin/python3.11" ] || { echo "$PROG: no usr/bin/python3.11 in the unpacked packages" >&2; false; }
    dpkg-deb -f "$CACHE"/debs/libc6_*_arm64.deb Version | sed -E 's/^2\.([0-9]+).*/\1/' >"$tmp/.glibc-minor"
    echo "$pkgs" >"$tmp/.edge-fer-ready"
    rm -rf "$ROOT" && mv "$tmp" "$ROOT"
    log "aarch64 root: $(wc -l <"$ROOT/.edge-fer-ready") packages, $(du -sm "$ROOT" | cut -f1) MiB"
}

ensure_qemu() {
    STEP="finding qemu-user"
    QEMU=$(command -v qemu-aarch64-static || command -v qemu-aarch64 || true)
    if [ -z "$QEMU" ]; then
        QEMU=$CACHE/qemu-aarch64-static
        if [ ! -x "$QEMU" ]; then
            apt_options
            ensure_apt_lists
            STEP="fetching Debian's qemu-user-static"
            log "$STEP (no qemu-aarch64 on PATH)"
            local tmp
            tmp=$(mktemp -d "$CACHE/qemu.XXXXXX")
            (cd "$tmp" && apt-get "${APT[@]}" download "qemu-user-static:$(dpkg --print-architecture)" >/dev/null)
            dpkg-deb --fsys-tarfile "$tmp"/qemu-user-static_*.deb | tar -x -C "$tmp" ./usr/bin/qemu-aarch64-static
            mv "$tmp/usr/bin/qemu-aarch64-static" "$QEMU"
            rm -rf "$tmp"
        fi
    fi
    QEMU_VERSION=$("$QEMU" --version | head -1 | sed -E 's/.*version ([^ ]+).*/\1/')
    log "qemu: $QEMU ($QEMU_VERSION)"
}

build_wheel() {
    STEP="building the edge-fer wheel from the working tree"
    local src
    src=$(mktemp -d)
    # Only what git would commit (tracked and new, not ignored): no stale build/ or egg-info leaks in.
    if git -C "$REPO" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        (cd "$REPO" && git ls-files -z -co --exclude-standard | tar --null -T - --ignore-failed-read -cf - 2>/dev/null) \
            | tar -xf - -C "$src"
    else
        cp -a "$REPO/." "$src" && rm -rf "$src/build" "$src"/*.egg-info
    fi
    rm -rf "$OUT/dist" && mkdir -p "$OUT/dist"
    "$PY" -m pip wheel -q --disable-pip-version-check --no-deps --no-build-isolation -w "$OUT/dist" "$src" \
        >"$OUT/dist/build.log" 2>&1 || { cat "$OUT/dist/build.log" >&2; false; }
    rm -rf "$src"
    WHEEL=$(ls "$OUT"/dist/edge_fer-*.whl)
    EF_VERSION=$(basename "$WHEEL" | cut -d- -f2)
    log "built $(basename "$WHEEL")"
}

pip_target_options() {  # pip's view of the emulated system: CPython 3.11, manylinux up to the root's glibc
    local minor m
    minor=$(cat "$ROOT/.glibc-minor")
    PIP_TARGET=(--only-binary=:all: --python-version 3.11 --implementation cp --abi cp311 --abi abi3 --abi none
        --platform manylinux2014_aarch64)
    for ((m = 17; m <= minor; m++)); do PIP_TARGET+=(--platform "manylinux_2_${m}_aarch64"); done
}

ensure_deps_site() {
    STEP="resolving the runtime requirements"
    "$PY" "$REPO/benchmarks/wheel_requirements.py" "$WHEEL" --extra onnx --machine aarch64 --python 3.11 \
        >"$OUT/requirements-aarch64.txt"
    pip_target_options
    local key
    key=$( (cat "$OUT/requirements-aarch64.txt"; echo "${PIP_TARGET[*]}") | sha256sum | cut -c1-12)
    DEPS_SITE=$CACHE/site-$key
    if [ -f "$DEPS_SITE/.edge-fer-ready" ]; then
        log "aarch64 dependencies: cached ($DEPS_SITE)"
        return
    fi
    STEP="installing the aarch64 wheels"
    local tmp=$DEPS_SITE.tmp.$$ pip=("$PY" -m pip --disable-pip-version-check)
    mkdir -p "$CACHE/wheels"
    rm -rf "$tmp"
    if ! "${pip[@]}" install -q --root-user-action=ignore --no-warn-conflicts --target "$tmp" --no-index \
        --find-links "$CACHE/wheels" "${PIP_TARGET[@]}" -r "$OUT/requirements-aarch64.txt" >/dev/null 2>&1; then
        log "downloading aarch64 wheels: $(tr '\n' ' ' <"$OUT/requirements-aarch64.txt")"
        STEP="downloading the aarch64 wheels"
        "${pip[@]}" download -q -d "$CACHE/wheels" "${PIP_TARGET[@]}" -r "$OUT/requirements-aarch64.txt" \
            >"$OUT/pip-download.log" 2>&1 || { cat "$OUT/pip-download.log" >&2; false; }
        STEP="installing the aarch64 wheels"
        rm -rf "$tmp"
        "${pip[@]}" install -q --root-user-action=ignore --no-warn-conflicts --target "$tmp" --no-index \
            --find-links "$CACHE/wheels" "${PIP_TARGET[@]}" -r "$OUT/requirements-aarch64.txt" \
            >"$OUT/pip-install.log" 2>&1 || { cat "$OUT/pip-install.log" >&2; false; }
    fi
    write_deps_sizes "$tmp"
    touch "$tmp/.edge-fer-ready"
    rm -rf "$DEPS_SITE" && mv "$tmp" "$DEPS_SITE"
}

install_edge_fer() {  # the wheel alone (pure Python) into DIR
    STEP="installing edge-fer into $1"
    rm -rf "$1"
    "$PY" -m pip install -q --disable-pip-version-check --root-user-action=ignore --no-deps --no-index \
        --target "$1" "$WHEEL" >"$1.log" 2>&1 || { cat "$1.log" >&2; false; }
}

# Both interpreters run from $OUT, not from the checkout: Python puts the working folder first on sys.path,
# and the checkout's edge_fer/ would shadow the installed wheel.
arm_python() {  # the emulated interpreter, with nothing of the host's environment
    (cd "$OUT" && env -i HOME="$HOME" PATH=/usr/bin:/bin LANG=C.UTF-8 PYTHONPATH="$EF_SITE:$DEPS_SITE" \
        timeout "$RUN_TIMEOUT" "$QEMU" -cpu "$CPU" -L "$ROOT" "$ROOT/usr/bin/python3.11" -s "$@")
}

x86_python() {
    (cd "$OUT" && env -u EDGE_FER_MODEL -u PYTHONHOME PYTHONPATH="$X86_SITE" timeout "$RUN_TIMEOUT" "$PY" "$@")
}

# Sizes as pip installs them (with the bytecode pip compiles) and of the files alone; the dependencies are
# measured once, right after their install, before any run adds bytecode of its own.
site_kb() { du -sk "$@" | cut -f1; }
files_kb() { du -sk --exclude=__pycache__ "$@" | cut -f1; }
mb() { echo $((($1 + 512) / 1024)); }

write_deps_sizes() {  # DIR: "with-bytecode files-only onnxruntime" in KiB, into DIR/.edge-fer-sizes
    echo "$(site_kb "$1") $(files_kb "$1") $(site_kb "$1"/onnxruntime "$1"/onnxruntime-*.dist-info \
        | awk '{s += $1} END {print s}')" >"$1/.edge-fer-sizes"
}

record_sizes() {
    STEP="measuring the install"
    local deps deps_files ef ef_files ort
    [ -f "$DEPS_SITE/.edge-fer-sizes" ] || write_deps_sizes "$DEPS_SITE"  # a cache from an older script
    read -r deps deps_files ort <"$DEPS_SITE/.edge-fer-sizes"
    ef=$(site_kb "$EF_SITE")
    ef_files=$(files_kb "$EF_SITE")
    SITE_MB=$(mb $((deps + ef)))
    {
        echo "aarch64 runtime-only install (site-packages): $SITE_MB MiB as pip installs it," \
            "$(mb $((deps_files + ef_files))) MiB without the bytecode pip compiles"
        echo "  edge-fer $EF_VERSION: $(mb "$ef") MiB; dependencies: $(mb "$deps") MiB," \
            "of which onnxruntime (the onnx extra) $(mb "$ort") MiB"
        du -sk "$DEPS_SITE"/* "$EF_SITE"/* 2>/dev/null | sort -rn | head -12 \
            | awk '{printf "  %6.1f MiB  %s\n", $1 / 1024, $2}'
    } >"$OUT/sizes.txt"
    "$PY" -m pip list --disable-pip-version-check --path "$DEPS_SITE" --path "$EF_SITE" --format freeze \
        >"$OUT/versions.txt" 2>/dev/null || true
    log "$(head -2 "$OUT/sizes.txt" | tr -s ' ' | tr '\n' ' ')"
}

run_case() {  # SIDE CASE: run one command on x86 or aarch64; its output is SIDE/CASE.jsonl, stderr SIDE/CASE.log
    local side=$1 case=$2 dir=$OUT/$1 site run args=() model=()
    if [ "$side" = x86 ]; then site=$X86_SITE run=x86_python; else site=$EF_SITE run=arm_python; fi
    case $case in *-onnx) model=(--model "$site/edge_fer/assets/edgefer-s_onnx.onnx" --backend onnx) ;; esac
    case $case in
        predict-*) args=(predict "$IMAGE" --json) ;;
        clip-*) args=(webcam --source "$CLIP" --json-out "$dir/$case.jsonl") ;;
        mp4-*) args=(webcam --source "$VIDEO" --json-out "$dir/$case.jsonl") ;;
    esac
    case $case in predict-*) ;; *) args+=(--headless --max-frames "$FRAMES" --threads 4 --force) ;; esac
    mkdir -p "$dir"
    rm -f "$dir/$case.jsonl"
    local rc=0 t0=$SECONDS
    if [ "${args[0]}" = predict ]; then
        "$run" -m edge_fer "${args[@]}" "${model[@]}" >"$dir/$case.jsonl" 2>"$dir/$case.log" || rc=$?
    else
        "$run" -m edge_fer "${args[@]}" "${model[@]}" >"$dir/$case.log" 2>&1 || rc=$?
    fi
    if [ "$side" = x86 ]; then
        log "x86 $case: exit $rc"
    else  # no speed: emulated seconds say nothing about a Pi
        log "$side $case: exit $rc (emulated; took $((SECONDS - t0)) s, not a speed)"
    fi
    return $rc
}

compare_case() {  # CPU CASE GROUP TOL: one line of comparisons.jsonl
    local cpu=$1 case=$2 group=$3 tol=$4 rc=0 line
    line=$("$PY" "$REPO/benchmarks/compare_outputs.py" "$OUT/x86/$case.jsonl" "$OUT/$cpu/$case.jsonl" --tol "$tol" \
        --json --case "$cpu $case" --group "$group" 2>>"$OUT/$cpu/$case.compare.log") || rc=$?
    if [ $rc -eq 2 ] || [ -z "$line" ]; then  # no usable output: the run itself failed
        line=$(printf '{"case": "%s %s", "group": "%s", "agree": false, "tol": %s, "faces": 0, "max_prob_diff": 0, "problems": ["no usable output; see %s"]}' \
            "$cpu" "$case" "$group" "$tol" "$OUT/$cpu/$case.log")
    fi
    echo "$line" >>"$OUT/comparisons.jsonl"
}

main() {
    parse_args "$@"
    check_host
    mkdir -p "$CACHE"
    exec 9>"$CACHE/.lock"  # two runs on one cache would pull each other's files away
    flock -n 9 || die "another run of $PROG is using $CACHE; wait for it, or set EDGE_FER_AARCH64_CACHE"
    if [ $FRESH -eq 1 ]; then fresh_cache; fi
    mkdir -p "$OUT"
    rm -f "$OUT/comparisons.jsonl"
    ensure_qemu
    ensure_root
    build_wheel
    ensure_deps_site
    EF_SITE=$OUT/aarch64-edge-fer
    X86_SITE=$OUT/x86-edge-fer
    install_edge_fer "$EF_SITE"
    install_edge_fer "$X86_SITE"
    record_sizes
    STEP="checking both sides import the fresh wheel"
    x86_python -c "import edge_fer, sys; sys.exit(not edge_fer.__file__.startswith('$X86_SITE/'))" \
        || die "$PY imports another edge_fer before $X86_SITE; unset PYTHONPATH or use a cleaner Python"
    CPU=${CPUS%%,*}
    write_cpuinfo "$CPU"
    arm_python -c "import edge_fer, sys; sys.exit(not edge_fer.__file__.startswith('$EF_SITE/'))" \
        || { echo "$PROG: the emulated Python does not import edge_fer from $EF_SITE" >&2; false; }
    ARM_PY_VERSION=$(arm_python -c "import platform; print(platform.python_version())")

    STEP="the lossless clip"
    CLIP=$OUT/clip-ffv1.mkv
    rm -f "$CLIP"
    PYTHONPATH=$X86_SITE "$PY" "$REPO/benchmarks/lossless_clip.py" "$VIDEO" "$CLIP" --frames "$FRAMES" >&2

    local cases=(predict-tflite predict-onnx clip-tflite clip-onnx mp4-tflite mp4-onnx) case cpu
    STEP="the x86 reference runs"
    for case in "${cases[@]}"; do
        run_case x86 "$case" || { echo "$PROG: the x86 reference $case failed; see $OUT/x86/$case.log" >&2; false; }
    done

    STEP="the aarch64 runs"
    for cpu in ${CPUS//,/ }; do
        CPU=$cpu
        write_cpuinfo "$CPU"
        for case in "${cases[@]}"; do
            run_case "$CPU" "$case" || true
            case $case in
                mp4-*) compare_case "$CPU" "$case" decoded "$VIDEO_TOL" ;;
                *) compare_case "$CPU" "$case" same-pixels "$TOL" ;;
            esac
        done
    done

    STEP="the verdict"
    local cpus_words=${CPUS//,/ and } rc=0
    "$PY" "$REPO/benchmarks/aarch64_verdict.py" "$OUT/comparisons.jsonl" --context "edge-fer $EF_VERSION, runtime-only \
install ($SITE_MB MiB site-packages), Debian 12 arm64 Python $ARM_PY_VERSION under qemu-aarch64 $QEMU_VERSION as \
$cpus_words, TFLite and ONNX, predict and webcam ($FRAMES frames)" || rc=$?
    exit $rc
}

main "$@"
