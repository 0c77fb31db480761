#!/usr/bin/env bash
# Installs what is missing, builds wsi-mpi, writes a synthetic cohort and runs the main job on it.
# Only what wsi-mpi needs is installed and built (no test tools, no tests).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
install_packages
build_project -DBUILD_TESTING=OFF
DEMO="${WSI_DEMO_DIR:-$ROOT/demo}"
WSI="$BUILD_DIR/src/wsi-mpi"
rm -rf "$DEMO"
"$WSI" synth --output "$DEMO" --slides 3 --size 6000x4000
mpirun -n 2 --bind-to none "$WSI" run --job "$DEMO/job.ini" --threads 1
"$WSI" inspect "$DEMO/cohort.h5"
echo
echo "cohort file: $DEMO/cohort.h5"
echo "overlays:"
"$WSI" render "$DEMO/cohort.h5" --output "$DEMO/overlays"
