"""Template data shipped by installed packages: a mean head with a face, its face mask, a brain.

* pydeface's wheel ships ``mean_reg2mean.nii.gz`` (a mean T1 head with a face) and
  ``facemask.nii.gz`` (1 everywhere except 0 on the face), MIT licensed.
* nilearn ships the MNI152 T1 brain template and brain mask as package data (no download).

The MNI152 brain mask is not aligned with the mean head in world space (it sits ~20 mm off),
so it was registered into the mean head's space once with :func:`derive_brain_transform`
(affine, brain-masked Mattes MI) and the result is frozen in :data:`MNI_TO_MEAN_HEAD`; a test
recomputes it. The face mask lies at least ~14 mm from that brain mask.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
from numpy.typing import NDArray

from deidkit.deface._deps import nilearn_datasets, pydeface_data
from deidkit.deface.geometry import BoolArray, FloatArray, Grid, grid_of, resample_to

#: Map from MNI152 world mm to mean-head world mm (RAS), found by
#: ``derive_brain_transform()`` with nilearn's 2 mm MNI152 template and brain mask.
MNI_TO_MEAN_HEAD: FloatArray = np.array(
    [
        [0.873844, 0.062985, 0.00813, -5.311909],
        [-0.071604, 0.875263, -0.138057, 13.993047],
        [-0.010833, 0.114091, 0.794017, -3.880139],
        [0.0, 0.0, 0.0, 1.0],
    ]
)


@dataclass(frozen=True)
class HeadTemplate:
    """A head template with its masks, all on one grid.

    Parameters
    ----------
    head
        Mean head intensities (float32).
    face
        True on the face region to remove.
    brain
        True inside the brain.
    grid
        The template's voxel grid.
    """

    head: NDArray[np.float32]
    face: BoolArray
    brain: BoolArray
    grid: Grid


def _pydeface_file(name: str) -> Path:
    module = pydeface_data()
    return Path(str(module.__file__)).parent / "data" / name


@functools.lru_cache(maxsize=1)
def load_template() -> HeadTemplate:
    """Load (once per process) the pydeface mean head, its face mask and a brain mask."""
    head_img: Any = nib.load(_pydeface_file("mean_reg2mean.nii.gz"))
    face_img: Any = nib.load(_pydeface_file("facemask.nii.gz"))
    grid = grid_of(head_img.shape, head_img.affine)
    head = np.asarray(head_img.get_fdata(dtype=np.float32))
    face = np.asarray(face_img.get_fdata(dtype=np.float32)) < 0.5
    datasets = nilearn_datasets()
    mask_img = datasets.load_mni152_brain_mask(resolution=2)
    mask_grid = grid_of(mask_img.shape, mask_img.affine)
    brain = (
        resample_to(
            mask_img.get_fdata(dtype=np.float32),
            mask_grid,
            grid,
            world_transform=np.asarray(np.linalg.inv(MNI_TO_MEAN_HEAD), dtype=np.float64),
        )
        > 0.5
    )
    return HeadTemplate(head=head, face=face, brain=np.asarray(brain), grid=grid)


def derive_brain_transform() -> FloatArray:
    """Register nilearn's MNI152 brain into the mean head's world space (a few seconds).

    Returns
    -------
    numpy.ndarray
        4x4 map from MNI world mm to mean-head world mm; :data:`MNI_TO_MEAN_HEAD` holds the
        frozen result.
    """
    from deidkit.deface.registration import register_affine

    datasets = nilearn_datasets()
    tpl = datasets.load_mni152_template(resolution=2)
    mask = datasets.load_mni152_brain_mask(resolution=2)
    head_img: Any = nib.load(_pydeface_file("mean_reg2mean.nii.gz"))
    return register_affine(
        tpl.get_fdata(),
        grid_of(tpl.shape, tpl.affine),
        head_img.get_fdata(),
        grid_of(head_img.shape, head_img.affine),
        fixed_mask=mask.get_fdata() > 0.5,
        voxel_mm=3.0,
        iterations=200,
    )
