"""Template data vendored in ``deidkit/deface/data``: a mean head, its face mask, a brain.

* ``mean_reg2mean.nii.gz`` (a mean T1 head with a face) and ``facemask.nii.gz`` (1 everywhere
  except 0 on the face) come from pydeface's wheel, MIT licensed.
* ``mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz`` is the MNI152 T1 brain template as
  nilearn ships it; the brain mask is nilearn's own rule (template / max > 0.2).

The copies are byte-identical (``data/README.md`` lists their hashes and licences), so neither
package is a dependency: both were installed only for these files.

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

from deidkit.deface.geometry import BoolArray, FloatArray, Grid, grid_of

#: Map from MNI152 world mm to mean-head world mm (RAS), found by
#: ``derive_brain_transform()`` (nilearn's MNI152 template and brain mask, 3 mm copies).
MNI_TO_MEAN_HEAD: FloatArray = np.array(
    [
        [0.870452, 0.062965, 0.010917, -4.345234],
        [-0.069437, 0.874069, -0.136121, 14.6569],
        [-0.014214, 0.111911, 0.787494, -2.840392],
        [0.0, 0.0, 0.0, 1.0],
    ]
)

#: The MNI152 (2009a, symmetric) T1 brain template, 1 mm, as nilearn ships it.
MNI_T1_FILE = "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"
#: pydeface's mean T1 head and its face mask.
MEAN_HEAD_FILE = "mean_reg2mean.nii.gz"
FACE_MASK_FILE = "facemask.nii.gz"

#: The vendored template files (with their licences and a README on where they come from).
TEMPLATE_DIR = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True)
class HeadTemplate:
    """A head template with its masks, all on one grid.

    Parameters
    ----------
    head
        Mean head intensities (float32).
    face
        True on the face region to remove (on ``grid``).
    brain
        True inside the brain, on its own grid ``brain_grid`` (nilearn's 1 mm MNI152 grid).
    grid
        The head template's voxel grid.
    brain_grid
        Grid of ``brain``.
    head_to_brain
        4x4 map from head-template world mm to ``brain_grid`` world mm.
    """

    head: NDArray[np.float32]
    face: BoolArray
    brain: BoolArray
    grid: Grid
    brain_grid: Grid
    head_to_brain: FloatArray


def template_file(name: str) -> Path:
    """Path of a vendored template file (:data:`TEMPLATE_DIR`).

    Raises
    ------
    FileNotFoundError
        If the file is not there (a broken install).
    """
    path = TEMPLATE_DIR / name
    if not path.is_file():
        raise FileNotFoundError(f"deface template file '{name}' is missing from the install")
    return path


@functools.lru_cache(maxsize=1)
def load_template() -> HeadTemplate:
    """Load (once per process) the mean head, its face mask and the MNI152 brain mask."""
    head_img: Any = nib.load(template_file(MEAN_HEAD_FILE))
    face_img: Any = nib.load(template_file(FACE_MASK_FILE))
    grid = grid_of(head_img.shape, head_img.affine)
    head = np.asarray(head_img.dataobj, dtype=np.float32)
    face = np.asarray(face_img.dataobj) < 0.5
    # nilearn's load_mni152_brain_mask is "template / max > 0.2", on the 1 mm file.
    mask_img: Any = nib.load(template_file(MNI_T1_FILE))
    mni = np.asarray(mask_img.dataobj)
    brain = mni > 0.2 * float(mni.max())
    return HeadTemplate(
        head=head,
        face=face,
        brain=brain,
        grid=grid,
        brain_grid=grid_of(mask_img.shape, mask_img.affine),
        head_to_brain=np.asarray(np.linalg.inv(MNI_TO_MEAN_HEAD), dtype=np.float64),
    )


def derive_brain_transform() -> FloatArray:
    """Register the MNI152 brain into the mean head's world space (a few seconds).

    Returns
    -------
    numpy.ndarray
        4x4 map from MNI world mm to mean-head world mm; :data:`MNI_TO_MEAN_HEAD` holds the
        frozen result.
    """
    from deidkit.deface.registration import register_affine

    tpl: Any = nib.load(template_file(MNI_T1_FILE))
    mni = np.asarray(tpl.dataobj, dtype=np.float32)
    head_img: Any = nib.load(template_file(MEAN_HEAD_FILE))
    return register_affine(
        mni,
        grid_of(tpl.shape, tpl.affine),
        np.asarray(head_img.dataobj, dtype=np.float32),
        grid_of(head_img.shape, head_img.affine),
        fixed_mask=mni > 0.2 * float(mni.max()),
        voxel_mm=3.0,
        iterations=200,
    )
