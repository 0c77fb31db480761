#!/usr/bin/env bash
# Installs what is missing, builds wsi-mpi (and the sanitizer and fuzz builds) and runs the whole
# test suite (ctest).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
install_packages
build_checks
build_project -DWSI_SANITIZE_BUILD="$SANITIZE_DIR" -DWSI_FUZZ_BUILD="$FUZZ_DIR"
cd "$BUILD_DIR"
ctest --output-on-failure --timeout 900 -j 1 "$@"
