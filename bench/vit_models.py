"""Writes the ViT encoders bench/run.sh times: torchvision's vit_b_16 and vit_l_16 (random
weights) traced to return tokens, pooled by their class token (tests/python/vit_tokens.py, as the
parity test makes them). usage: vit_models.py DIR"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "python"))
from vit_tokens import make_encoder  # noqa: E402

out = sys.argv[1]
for arch in ("vit_b_16", "vit_l_16"):
    path = os.path.join(out, arch + ".pt")
    if not os.path.exists(path):
        make_encoder(path, arch)
    print(path)
