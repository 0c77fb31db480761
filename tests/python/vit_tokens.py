"""torchvision ViTs as the token encoders the tests and benches trace (torch and torchvision only):
the encoder up to its final LayerNorm, returning tokens [B, 1 + R + P, D], with R learned register
tokens after the class token (as Virchow2 and H-optimus put them)."""
import json

import torch
import torch.nn as nn
import torchvision

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


class Tokens(nn.Module):
    def __init__(self, vit, registers=0):
        super().__init__()
        self.vit = vit
        hidden = vit.class_token.shape[-1]
        self.registers = nn.Parameter(torch.randn(1, registers, hidden) * 0.5) if registers else None

    def forward(self, x):
        v = self.vit
        x = v._process_input(x)
        x = torch.cat([v.class_token.expand(x.shape[0], -1, -1), x], 1) + v.encoder.pos_embedding
        if self.registers is not None:
            x = torch.cat([x[:, :1], self.registers.expand(x.shape[0], -1, -1), x[:, 1:]], 1)
        return v.encoder.ln(v.encoder.layers(x))


def make_encoder(path, arch, size=224, registers=0, pooling="cls"):
    """Random weights (seeded), traced and saved with its wsi_model.json; returns the eager module."""
    torch.manual_seed(3)
    vit = getattr(torchvision.models, arch)(weights=None, image_size=size)
    with torch.no_grad():  # torchvision starts the class token at 0: give it something to carry
        vit.class_token.normal_(0, 0.5)
    encoder = Tokens(vit, registers).eval()
    traced = torch.jit.trace(encoder, torch.zeros(1, 3, size, size), check_trace=False)
    description = {"output": "features", "input_size": [size, size], "mean": IMAGENET_MEAN, "std": IMAGENET_STD,
                   "pooling": pooling, "prefix_tokens": 1 + registers}
    torch.jit.save(traced, path, _extra_files={"wsi_model.json": json.dumps(description)})
    return encoder
