#!/usr/bin/env bash
# Installs what is missing, builds wsi-mpi and runs the whole test suite (ctest).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
install_packages
build_project
cd "$BUILD_DIR"
ctest --output-on-failure --timeout 900 -j 1 "$@"
