"""Reference data for tests/unit/model/test_model.cpp: TIAToolbox-style CNNModel state_dicts,
TorchScript files with wsi_model.json, random patches and PyTorch's own outputs.

usage: model_reference.py OUT_DIR r18|r50|bad|script|arch:<torchvision architecture>

Files (raw little-endian, no header):
  patches.u8       N x 224 x 224 x 3 uint8
  <name>.probs.f32 N x C float32 (softmax of the logits)
  <name>.feats.f32 N x D float32 (pooled backbone output)
"""
import collections
import io
import json
import sys
import zipfile

import torch
import torch.nn as nn
import torchvision

KATHER = ["BACK", "NORM", "DEB", "TUM", "ADI", "MUC", "MUS", "STR", "LYM"]


class CNNModel(nn.Module):
    """tiatoolbox.models.architecture.vanilla.CNNModel (1.4.1), returning (features, logits)."""

    def __init__(self, arch, num_classes):
        super().__init__()
        backbone = getattr(torchvision.models, arch)(weights=None)
        self.feat_extract = nn.Sequential(*list(backbone.children())[:-2])
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(backbone.fc.in_features, num_classes)

    def forward(self, x):
        f = torch.flatten(self.pool(self.feat_extract(x)), 1)
        return f, self.classifier(f)


def make_model(arch, num_classes, patches):
    torch.manual_seed(0)
    model = CNNModel(arch, num_classes)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
                m.num_batches_tracked.fill_(7)
        model.eval()
        _, logits = model(to_input(patches))
        model.classifier.weight.mul_(2.0 / logits.std().item())  # spread softmax, not one-hot
        model.classifier.bias.uniform_(-0.5, 0.5)
    return model


def make_patches(n):
    g = torch.Generator().manual_seed(1)
    patches = torch.randint(0, 256, (n, 224, 224, 3), generator=g, dtype=torch.uint8)
    # Some structure, so that features differ between patches: a colour ramp per patch.
    ramp = torch.linspace(0, 120, 224).view(1, 224, 1, 1)
    patches = (patches.float() * 0.5 + ramp * torch.rand(n, 1, 1, 3, generator=g)).clamp(0, 255)
    return patches.to(torch.uint8)


def to_input(patches, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0)):
    x = patches.permute(0, 3, 1, 2).float() / 255.0
    return (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)


def write_raw(path, tensor):
    with open(path, "wb") as f:
        f.write(tensor.detach().contiguous().numpy().tobytes())


def write_reference(out, name, model, patches, **norm):
    with torch.no_grad():
        feats, logits = model(to_input(patches, **norm))
    write_raw(f"{out}/{name}.probs.f32", torch.softmax(logits, 1))
    write_raw(f"{out}/{name}.feats.f32", feats)


def save_cuda_tagged(obj, path):
    """torch.save with every storage tagged 'cuda:0', as a GPU-trained checkpoint has."""
    original = torch.serialization.location_tag
    torch.serialization.location_tag = lambda storage: "cuda:0"
    try:
        torch.save(obj, path)
    finally:
        torch.serialization.location_tag = original
    with zipfile.ZipFile(path) as z:
        pkl = z.read([n for n in z.namelist() if n.endswith("data.pkl")][0])
    assert b"cuda:0" in pkl and b"cpu" not in pkl, "location tags were not rewritten"


def shared_storage(sd):
    """All tensors as views into one storage, at offsets; classifier.weight non-contiguous."""
    flat = torch.cat([t.reshape(-1).float() for t in sd.values()])
    out, offset = collections.OrderedDict(), 0
    for k, t in sd.items():
        n = t.numel()
        view = flat[offset:offset + n].view(t.shape)
        out[k] = view.long() if t.dtype == torch.int64 else view
        offset += n
    w = sd["classifier.weight"]
    out["classifier.weight"] = w.t().contiguous().t()  # strides (1, C)
    assert not out["classifier.weight"].is_contiguous()
    return out


def torchvision_names(sd):
    names = {"feat_extract.0.": "conv1.", "feat_extract.1.": "bn1.", "classifier.": "fc."}
    names.update({f"feat_extract.{i + 4}.": f"layer{i + 1}." for i in range(4)})
    out = collections.OrderedDict()
    for k, t in sd.items():
        for a, b in names.items():
            if k.startswith(a):
                k = b + k[len(a):]
                break
        out[k] = t
    return out


def do_r18(out):
    patches = make_patches(2)
    write_raw(f"{out}/patches.u8", patches)
    model = make_model("resnet18", 9, patches)
    sd = model.state_dict()
    assert isinstance(sd, collections.OrderedDict)
    torch.save(sd, f"{out}/r18_ordered.pth")
    torch.save(dict(sd), f"{out}/r18_dict.pth")
    save_cuda_tagged(sd, f"{out}/r18_cuda.pth")
    torch.save(shared_storage(sd), f"{out}/r18_shared.pth")
    torch.save(torchvision_names(sd), f"{out}/r18_torchvision.pth")
    torch.save({"epoch": 3, "state_dict": sd}, f"{out}/r18_checkpoint.pth")
    write_reference(out, "r18", model, patches)


def do_r50(out):
    patches = make_patches(2)
    write_raw(f"{out}/patches.u8", patches)
    model = make_model("resnet50", 9, patches)
    torch.save(model.state_dict(), f"{out}/r50.pth")
    write_reference(out, "r50", model, patches)


def do_bad(out):
    torch.manual_seed(0)
    sd18 = CNNModel("resnet18", 9).state_dict()
    torch.save(CNNModel("resnet50", 9).state_dict(), f"{out}/r50_as_r18.pth")
    missing = collections.OrderedDict(sd18)
    del missing["feat_extract.5.0.bn2.running_var"]
    torch.save(missing, f"{out}/missing.pth")
    extra = collections.OrderedDict(sd18)
    extra["head.extra.weight"] = torch.zeros(3)
    torch.save(extra, f"{out}/unexpected.pth")
    torch.save(sd18, f"{out}/legacy.pth", _use_new_zipfile_serialization=False)
    with open(f"{out}/garbage.pth", "wb") as f:
        f.write(b"this is not a state dict")


class Traced(nn.Module):
    def __init__(self, model, tuple_output):
        super().__init__()
        self.model = model
        self.tuple_output = tuple_output

    def forward(self, x):
        f, logits = self.model(x)
        return (f, logits) if self.tuple_output else logits


class SmallLogits(nn.Module):
    """4 logits from the mean colour, no description embedded."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(2)
        self.linear = nn.Linear(3, 4)

    def forward(self, x):
        return self.linear(x.mean(dim=(2, 3))) * 10.0


def do_script(out):
    patches = make_patches(2)
    write_raw(f"{out}/patches.u8", patches)
    model = make_model("resnet18", 9, patches)
    mean, std = (0.1, 0.2, 0.3), (0.9, 1.0, 1.1)
    example = to_input(patches[:1])
    desc = {"class_names": KATHER, "feature_size": 512, "output": "logits", "input_size": [224, 224],
            "scale": 1.0 / 255.0, "mean": list(mean), "std": list(std)}
    traced = torch.jit.trace(Traced(model, True).eval(), example, check_trace=False)
    torch.jit.save(traced, f"{out}/tuple.pt", _extra_files={"wsi_model.json": json.dumps(desc)})
    small = torch.jit.trace(SmallLogits().eval(), example, check_trace=False)
    torch.jit.save(small, f"{out}/logits_nodesc.pt")
    with torch.no_grad():
        write_raw(f"{out}/small.probs.f32", torch.softmax(small(to_input(patches)), 1))
    write_reference(out, "norm", model, patches, mean=mean, std=std)
    write_reference(out, "plain", model, patches)


def do_arch(out, arch):
    patches = make_patches(1)
    write_raw(f"{out}/patches.u8", patches)
    model = make_model(arch, 9, patches)
    torch.save(model.state_dict(), f"{out}/{arch}.pth")
    write_reference(out, arch, model, patches)


if __name__ == "__main__":
    out, what = sys.argv[1], sys.argv[2]
    torch.set_num_threads(2)
    if what.startswith("arch:"):
        do_arch(out, what[5:])
    else:
        {"r18": do_r18, "r50": do_r50, "bad": do_bad, "script": do_script}[what](out)
    print("ok", what)
