#!/usr/bin/env bash
# The GPU figures of docs/performance.md, in one run on a GPU machine whose Python has
# a CUDA LibTorch (the device tool's machines): builds bench/model_bench there (build.sh), then
# measures resnet18/50-kather100k with batches already in host memory: the C++ path's uint8
# upload (pinned, non-blocking), conversion on the GPU and probabilities copied back, per
# precision, memory format and batch, each checked against CPU fp32 on the same batch; and,
# for scale, PyTorch from Python on the same GPU with the input already on it; then ViT-B/16 and
# ViT-L/16 token encoders (tests/python/vit_tokens.py) per precision.
#   bench/cuda/device.sh KIT LOG
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
kit=${1:?kit (bench/cuda/kit.sh)}
log=${2:?log file}
build=$(mktemp -d)
exec > >(tee "$log") 2>&1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c 'import torch; print("torch", torch.__version__, "CUDA", torch.version.cuda, torch.cuda.get_device_name(0))'
echo "$(g++ --version | head -1); $(nproc) cores"
SECONDS=0
bash "$root/bench/cuda/build.sh" "$kit" "$build" || exit 1
echo "build: $SECONDS s"
ROOT="$root" python3 -c "
import os, sys, torch, torchvision
torch.manual_seed(0)
for arch in ('resnet18', 'resnet50'):
    torch.save(getattr(torchvision.models, arch)(num_classes=9).state_dict(), '$build/' + arch + '.pth')
sys.path.insert(0, os.path.join(os.environ['ROOT'], 'tests', 'python'))
from vit_tokens import make_encoder  # ViT-B/16 and ViT-L/16 returning tokens, class-token pooled
for arch in ('vit_b_16', 'vit_l_16'):
    make_encoder('$build/' + arch + '.pt', arch)"
bench() { "$build/model_bench" --threads 8 --seconds 4 --device cuda "$@" || echo "FAILED: $*"; }
for p in fp32 bf16 fp16; do bench --weights "$build/resnet18.pth" --precision "$p" --batch 256 --compare-cpu 1; done
for p in fp32 fp16; do bench --weights "$build/resnet18.pth" --precision "$p" --channels-last 0 --batch 256; done
for b in 64 512 1024; do bench --weights "$build/resnet18.pth" --precision fp16 --batch "$b"; done
bench --weights "$build/resnet18.pth" --precision fp32 --batch 1024
for p in fp32 bf16 fp16; do
  bench --model resnet50-kather100k --weights "$build/resnet50.pth" --precision "$p" --batch 256 --compare-cpu 1
done
for p in fp32 bf16 fp16; do
  bench --model "$build/vit_b_16.pt" --precision "$p" --batch 256
  bench --model "$build/vit_l_16.pt" --precision "$p" --batch 128
done
python3 - <<'PY'
import time, torch, torchvision
for arch in ("resnet18", "resnet50"):
    for dtype in (torch.float32, torch.float16):
        torch.backends.cudnn.benchmark = True
        m = getattr(torchvision.models, arch)(num_classes=9).cuda().eval().to(dtype).to(memory_format=torch.channels_last)
        x = torch.rand(256, 3, 224, 224, device="cuda", dtype=dtype).to(memory_format=torch.channels_last)
        with torch.inference_mode():
            for _ in range(5): m(x)
            torch.cuda.synchronize(); t = time.time(); n = 0
            while time.time() - t < 4: m(x).softmax(1).cpu(); n += 256
        print(f"python {arch} {dtype} channels_last batch 256, input on the GPU: {n / (time.time() - t):.0f} tiles/s")
PY
echo "total: $SECONDS s"
