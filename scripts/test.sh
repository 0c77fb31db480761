#!/usr/bin/env bash
# Installs what is missing, builds wsi-mpi (with the sanitizer and fuzz builds and the benchmarks'
# programs) and runs the whole test suite (ctest), then says how many tests were skipped and why
# (those that need the real reference slides skip without them: set WSI_TEST_DATA, see README.md).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
install_packages test
build_checks
build_project -DBUILD_TESTING=ON -DWSI_SANITIZE_BUILD="$SANITIZE_DIR" -DWSI_FUZZ_BUILD="$FUZZ_DIR"
# The benchmarks' programs are not tests, but they must keep compiling (a few seconds).
cmake --build "$BUILD_DIR" -j "$(nproc)" --target bench
cd "$BUILD_DIR"
status=0
# One test per core: most of them wait on processes (mpirun, Slurm) more than they compute. Two
# tests share the cores, so waiting threads sleep instead of spinning: OpenMP's (LibTorch's
# intra-op pool) and Open MPI's (a rank waiting in a collective). Neither changes a result bit.
export OMP_WAIT_POLICY=PASSIVE OMPI_MCA_mpi_yield_when_idle=1
ctest --output-on-failure --timeout 900 -j "$(nproc)" --output-junit "$BUILD_DIR/ctest-junit.xml" "$@" || status=$?
/usr/bin/python3 "$ROOT/scripts/skipped_tests.py" "$BUILD_DIR/ctest-junit.xml"
exit $status
