"""The model-only ceiling that PyTorch reaches on this machine from Python (Debian's python3-torch,
the same LibTorch as wsi-mpi's), for bench/run.sh: resnet18 (9 classes) in every layout wsi-mpi's
--autotune measures -- NCHW or channels-last, plain frozen or torch.jit.optimize_for_inference -- at
several batch sizes; fp32, and bf16 where asked. Prints one line per configuration and, last,
"best <tiles/s> <configuration>" for fp32.

  /usr/bin/python3 bench/pytorch_ceiling.py [--threads 2] [--seconds 3] [--batches 8,16,32] [--bf16]
"""
import argparse
import time

import torch
import torchvision


def rate(module, batch, memory_format, dtype, seconds):
    x = torch.rand(batch, 3, 224, 224).to(dtype).contiguous(memory_format=memory_format)
    with torch.inference_mode():
        module(x)  # warm-up (and the optimiser's first-run work)
        module(x)
        tiles, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            module(x)
            tiles += batch
        return tiles / (time.perf_counter() - start)


def variants(dtype):
    torch.manual_seed(0)
    net = torchvision.models.resnet18(num_classes=9).eval().to(dtype)
    for layout, memory_format in (("nchw", torch.contiguous_format), ("channels_last", torch.channels_last)):
        model = net.to(memory_format=memory_format)
        example = torch.zeros(1, 3, 224, 224).to(dtype).contiguous(memory_format=memory_format)
        frozen = torch.jit.freeze(torch.jit.trace(model, example).eval())
        yield layout, "frozen", memory_format, frozen
        try:
            yield layout, "optimize_for_inference", memory_format, torch.jit.optimize_for_inference(
                torch.jit.freeze(torch.jit.trace(model, example).eval()))
        except Exception as e:  # noqa: BLE001 -- report and go on
            print(f"{layout} optimize_for_inference failed: {e}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--batches", default="8,16,32")
    parser.add_argument("--bf16", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    best = (0.0, "")
    dtypes = [torch.float32] + ([torch.bfloat16] if args.bf16 else [])
    for dtype in dtypes:
        for layout, mode, memory_format, module in variants(dtype):
            for batch in (int(b) for b in args.batches.split(",")):
                r = rate(module, batch, memory_format, dtype, args.seconds)
                name = f"{str(dtype).replace('torch.', '')} {layout} {mode} batch {batch}"
                print(f"{r:8.1f} tiles/s  {name}", flush=True)
                if dtype == torch.float32 and r > best[0]:
                    best = (r, name)
    print(f"best {best[0]:.1f} {best[1]}")


if __name__ == "__main__":
    main()
