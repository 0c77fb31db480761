#!/usr/bin/env bash
# ViT-B/16 and ViT-L/16 token encoders (tests/python/vit_tokens.py, random weights, class token)
# on a GPU machine's CUDA LibTorch, through the C++ model stage (bench/model_bench: uint8 batches
# in pinned host memory, uploaded, converted and run; features copied back), per precision; and
# ResNet-18 beside them, for the compute ratio. Builds model_bench there first (build.sh).
#   bench/cuda/vit.sh KIT LOG
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
kit=${1:?kit (bench/cuda/kit.sh)}
log=${2:?log file}
build=/tmp/wsi-cuda
exec > >(tee "$log") 2>&1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c 'import torch; print("torch", torch.__version__, "CUDA", torch.version.cuda, torch.cuda.get_device_name(0))'
SECONDS=0
bash "$root/bench/cuda/build.sh" "$kit" "$build" || exit 1
echo "build: $SECONDS s"
ROOT="$root" python3 - "$build" <<'PY'
import os, sys, torch, torchvision
sys.path.insert(0, os.path.join(os.environ.get("ROOT", "."), "tests", "python"))
from vit_tokens import make_encoder
for arch in ("vit_b_16", "vit_l_16"):
    make_encoder(os.path.join(sys.argv[1], arch + ".pt"), arch)
torch.manual_seed(0)
torch.save(torchvision.models.resnet18(num_classes=9).state_dict(), os.path.join(sys.argv[1], "resnet18.pth"))
PY
bench() { "$build/model_bench" --threads 8 --seconds 4 --device cuda "$@" 2>&1 | grep 'tiles/s' || echo "FAILED: $*"; }
bench --weights "$build/resnet18.pth" --precision fp16 --batch 256
for p in fp32 bf16 fp16; do
  bench --model "$build/vit_b_16.pt" --precision "$p" --batch 256
  bench --model "$build/vit_l_16.pt" --precision "$p" --batch 128
done
echo "total: $SECONDS s"
