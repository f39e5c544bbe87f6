"""The intensity that separates a head from the air around it (rendering, face zone, reface)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

#: Head surface threshold as a fraction of the 99th percentile of positive intensities.
THRESHOLD_FRACTION = 0.05
#: The threshold stays this many times above the air level (10th percentile of positive
#: voxels), so Rician background noise (which is positive everywhere) is not "head".
AIR_FACTOR = 2.5


def head_threshold(volume: NDArray[np.float32]) -> float:
    """Intensity separating head from background.

    A fraction of the robust maximum, raised above the noise floor of the air when the
    image is noisy (air is most of a head field of view, so its level is a low percentile).
    """
    positive = volume[volume > 0]
    if positive.size == 0:
        return 1.0
    high, air = np.percentile(positive, [99.0, 10.0])
    return max(float(high) * THRESHOLD_FRACTION, float(air) * AIR_FACTOR)
