#!/usr/bin/env bash
# Installs every Debian 12 package spoofd needs to build, test and benchmark.
# Idempotent: packages already present are left alone; apt-get update runs only
# when something is missing. Run as root (or through sudo).
#
#   scripts/install-deps.sh            build + test dependencies
#   scripts/install-deps.sh --train    also the Python stack used to build goldens,
#                                      the training corpus and the model
#   scripts/install-deps.sh --corpus   also the speech data and synthesizers the
#                                      corpus is built from (models/corpus/packages.txt)
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  # toolchain
  cmake g++ make pkg-config git ca-certificates
  # gRPC / protobuf
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler grpc-proto
  # decoding (FFmpeg) and the ffmpeg CLI used by tests to make fixtures
  libavformat-dev libavcodec-dev libswresample-dev libavutil-dev ffmpeg
  # feature math
  libeigen3-dev libfftw3-dev libkissfft-dev
  # model runtime
  libtorch-dev
  # support libraries
  libabsl-dev libcli11-dev nlohmann-json3-dev libspdlog-dev libssl-dev libcpp-httplib-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev
  openssl  # the TLS tests make their certificates with the openssl tool
  python3-yaml  # tests/deploy reads the rendered Kubernetes manifests
  # Python used by tests/tools (numpy reads .npy files in checks)
  python3 python3-numpy
  # the browser test of the upload page (tests/web): Chromium driven by playwright-core
  chromium fonts-dejavu-core
)
# Node.js and npm from Debian, unless a node with npm is already installed
# (e.g. from NodeSource, whose nodejs package conflicts with Debian's npm).
if ! command -v npm >/dev/null 2>&1; then packages+=(nodejs npm); fi

# kubectl renders deploy/'s kustomize overlays in the tests. Any kubectl will
# do; Debian's is kubernetes-client (not installed over another one).
if ! command -v kubectl >/dev/null 2>&1; then packages+=(kubernetes-client); fi

for arg in "$@"; do
  case "$arg" in
    --train) packages+=(python3-torch python3-torchaudio python3-sklearn python3-scipy python3-matplotlib
                        python3-soundfile) ;;
    --corpus) mapfile -t corpus < <(grep -v '^\s*#' models/corpus/packages.txt | awk 'NF {print $1}')
              packages+=("${corpus[@]}") ;;
    *) echo "install-deps: unknown option $arg" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages already installed"
else
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  echo "install-deps: installing ${#missing[@]} packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# playwright-core at the version pinned in tests/web/package-lock.json, into
# tests/web/node_modules (git-ignored); it drives /usr/bin/chromium and
# downloads no browser of its own.
if [[ "$(node -p 'require("./tests/web/node_modules/playwright-core/package.json").version' 2>/dev/null)" != \
      "$(node -p 'require("./tests/web/package-lock.json").packages["node_modules/playwright-core"].version')" ]]; then
  echo "install-deps: npm ci in tests/web (playwright-core)"
  npm ci --prefix tests/web --no-audit --no-fund --loglevel=error
fi
