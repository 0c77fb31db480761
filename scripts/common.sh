# Shared by demo.sh and test.sh: install what is missing from Debian 12's apt, then build.
# Source it; it defines install_packages and build_project.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${WSI_BUILD_DIR:-$ROOT/build}"

# What building and running wsi-mpi needs (demo.sh installs these) ...
BUILD_PACKAGES=(
  build-essential cmake ninja-build pkg-config ccache
  libtorch-dev libopenslide-dev openslide-tools libhdf5-openmpi-dev hdf5-tools
  openmpi-bin libopenmpi-dev libboost-program-options-dev libspdlog-dev
  libopencv-core-dev libopencv-imgproc-dev libopencv-imgcodecs-dev libtiff-dev libtiff-tools
  nlohmann-json3-dev libssl-dev
  # UMAP's spectral initialisation (header-only: Spectra's Lanczos solver on Eigen's sparse matrices)
  libspectra-dev libeigen3-dev
  # the TIAToolbox annotation store export (SQLite with R*Tree, zlib-compressed geometries)
  libsqlite3-dev zlib1g-dev
  # an optimised BLAS behind LibTorch's matmuls (transformers; the reference BLAS is ~40x slower)
  libopenblas0-pthread
)
# ... and what only the test suite needs (test.sh adds these).
TEST_PACKAGES=(
  catch2
  # reference computations in tests (run with /usr/bin/python3)
  python3-torch python3-torchvision python3-h5py python3-openslide python3-numpy python3-opencv python3-skimage
  # `wsi-mpi umap` measured against umap-learn (trustworthiness from scikit-learn)
  umap-learn python3-sklearn
  # the TIAToolbox exports read back (Zarr stores; WKB geometries of the annotation store)
  python3-zarr python3-shapely
  # the real single-node Slurm test
  slurm-wlm munge
  # the libFuzzer targets (tests/fuzz)
  clang libclang-rt-14-dev
)

# install_packages [test]: the build packages, and with "test" the test suite's too.
install_packages() {
  local wanted=("${BUILD_PACKAGES[@]}") missing=()
  [[ "${1:-}" == test ]] && wanted+=("${TEST_PACKAGES[@]}")
  for p in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]} == 0)); then
    echo "[wsi-mpi] all Debian packages present"
    return
  fi
  echo "[wsi-mpi] installing: ${missing[*]}"
  local sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# build_project [extra cmake arguments...]
build_project() {
  cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@"
  cmake --build "$BUILD_DIR" -j "$(nproc)"
}

# The builds behind the sanitizer and fuzz tests: AddressSanitizer + UBSan (gcc, wsi-mpi and the
# unit tests) in $SANITIZE_DIR, and the libFuzzer targets (clang) in $FUZZ_DIR.
SANITIZE_DIR="${WSI_SANITIZE_DIR:-$ROOT/build-asan}"
FUZZ_DIR="${WSI_FUZZ_DIR:-$ROOT/build-fuzz}"
build_checks() {
  cmake -S "$ROOT" -B "$SANITIZE_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DWSI_SANITIZE=ON
  cmake --build "$SANITIZE_DIR" -j "$(nproc)" --target wsi-mpi wsi_tests
  CC=clang CXX=clang++ cmake -S "$ROOT" -B "$FUZZ_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DWSI_FUZZ=ON
  cmake --build "$FUZZ_DIR" -j "$(nproc)"
}

# Open MPI as root (containers, CI) and in containers without a shared-memory single-copy path.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none
export OMPI_MCA_rmaps_base_oversubscribe=1
