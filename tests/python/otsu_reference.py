"""scikit-image's Otsu threshold of a raw uint8 image (numpy .tofile()), printed as an integer.
usage: otsu_reference.py IMAGE.raw"""
import sys

import numpy as np
from skimage.filters import threshold_otsu

print(threshold_otsu(np.fromfile(sys.argv[1], np.uint8)))
