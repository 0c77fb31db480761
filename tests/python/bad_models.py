"""TorchScript models that misbehave, for the bad-input tests: nan.pt gives NaN, wide.pt gives
one more output than its declared classes.  usage: bad_models.py DIR"""
import json
import sys

import torch


class Nan(torch.nn.Module):
    def forward(self, x):
        return torch.full((x.shape[0], 2), float("nan"))


class Wide(torch.nn.Module):
    def forward(self, x):
        return torch.softmax(x.mean((2, 3)).repeat(1, 1)[:, :3].repeat(1, 2)[:, :3], 1)


description = json.dumps({"class_names": ["a", "b"], "output": "probabilities", "input_size": [224, 224]})
for name, module in (("nan", Nan()), ("wide", Wide())):
    torch.jit.save(torch.jit.script(module), f"{sys.argv[1]}/{name}.pt", _extra_files={"wsi_model.json": description})
