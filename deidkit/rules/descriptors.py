"""Clean Descriptors: keep only the words of a descriptor known not to identify anyone.

What code C does to a descriptor (SeriesDescription, ProtocolName, ...) under the Clean
Descriptors option, as data: the imaging and anatomy vocabulary and the short-number tokens a
cleaned text may keep. The scrub's C action and the BIDS sidecar rules
(:mod:`deidkit.rules.sidecars`) both clean with :func:`clean_text`, so a descriptor keeps the
same words in a DICOM header and in its sidecar.
"""

from __future__ import annotations

import re

__all__ = ["clean_text"]

# Words known not to identify anyone: imaging and anatomy vocabulary used in descriptions.
_SAFE_WORDS = frozenset(
    """
    t1 t2 t2* pd flair dwi adc dti swi mpr mprage spgr fspgr gre se tse fse epi bold asl tof
    stir ir dixon fat water sat fs c+ c- pre post contrast gad gd with without w wo and of
    ax axial sag sagittal cor coronal obl oblique 2d 3d 4d mip minip vr recon reformat
    localizer localiser scout survey topogram calibration cal ref reference
    head brain neck spine cervical thoracic lumbar chest thorax lung lungs abdomen pelvis
    liver kidney heart cardiac breast knee hip shoulder ankle wrist hand foot elbow
    orbit orbits sinus iac pituitary prostate whole body wb extremity upper lower left right
    lt rt bilateral l r ap pa lat lateral frontal
    ct mr mri pet spect us xr dx cr mg nm cta mra ctp perfusion angio venous arterial
    portal delayed phase early late soft tissue bone lung std standard sharp smooth kernel
    thin thick slice slices mm cm dose low high routine protocol series study exam scan
    image images screening diagnostic followup follow up baseline research
    iv oral rectal intravenous bolus infusion none no yes ml cc mg mgi mmol kg
    omnipaque iohexol isovue iopamidol visipaque iodixanol ultravist iopromide optiray
    ioversol xenetix iobitridol iomeron iomeprol imeron oxilan hexabrix conray telebrix
    omniscan gadodiamide magnevist gadopentetate dotarem gadoterate clariscan gadavist
    gadovist gadobutrol prohance gadoteridol multihance gadobenate eovist primovist
    gadoxetate elucirem vueway gadopiclenol feraheme ferumoxytol barium gastrografin
    optison definity sonovue lumason
    """.split()
)
# Short numbers with an optional unit, a letter with up to two digits, and a known word
# followed by a strength ("ISOVUE300", "Omnipaque350").
_SAFE_TOKEN = re.compile(r"^(\d{1,3}(\.\d+)?(mm|cm|ms|s|t|ml|cc|mg|mgi|mmol|%)?|[a-z]{1}\d{0,2})$")
_WORD_STRENGTH = re.compile(r"^([a-z]{3,})-?(\d{1,3})$")


def clean_text(value: str) -> str:
    """Clean a descriptor (code C under Clean Descriptors): keep only known-safe words.

    Every token that is not imaging vocabulary or a short number (at most three digits,
    optionally with a unit) is dropped, so names, IDs, dates and free text cannot survive.
    """
    kept = []
    dropped = False
    for token in re.split(r"[\s_^\\/,;:|]+", value):
        low = token.strip().lower().strip("().[]{}\"'")
        if not low:
            continue
        strength = _WORD_STRENGTH.match(low)
        if (
            low in _SAFE_WORDS
            or _SAFE_TOKEN.match(low)
            or (strength is not None and strength.group(1) in _SAFE_WORDS)
        ):
            kept.append(token.strip().strip("().[]{}\"'"))
        else:
            dropped = True
    # Nothing unknown: keep the value as written ("ISOVUE300/100" stays comparable), but
    # never with the PN separator "^", which makes a descriptor look like a person name.
    return value.strip(" \x00").replace("^", " ") if not dropped else " ".join(kept)
