#!/usr/bin/env bash
# Installs what is missing, builds wsi-mpi (and the sanitizer and fuzz builds) and runs the whole
# test suite (ctest), then says how many tests were skipped and why (those that need the real
# reference slides skip without them: set WSI_TEST_DATA, see README.md).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
install_packages test
build_checks
build_project -DBUILD_TESTING=ON -DWSI_SANITIZE_BUILD="$SANITIZE_DIR" -DWSI_FUZZ_BUILD="$FUZZ_DIR"
cd "$BUILD_DIR"
status=0
ctest --output-on-failure --timeout 900 -j 1 --output-junit "$BUILD_DIR/ctest-junit.xml" "$@" || status=$?
/usr/bin/python3 "$ROOT/scripts/skipped_tests.py" "$BUILD_DIR/ctest-junit.xml"
exit $status
