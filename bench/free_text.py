"""Free-text PHI: remove only the PHI, keep the research value (issue 14). Prints a table.

Not a test: a generated corpus (seeded) of vendor-style descriptors (MR protocol names of
the three big vendors, CT series with kernels, US presets, study descriptions), a third of
them with this patient's own PHI mixed in, and synthetic radiology sentences with planted
names and dates, cleaned by

* ``old allow-list``: the research profile's Clean Descriptors before issue 14 (kept only
  words from a fixed list of about 200), copied here as it was;
* ``new``: :func:`deidkit.rules.descriptors.clean_text_spans` with philter-lite's name lists;
* ``new, Faker names``: the same detector with Faker's person-name lists (all locales, no
  list of ordinary words) in place of philter-lite's, where Faker is installed;
* ``new, no names list``: cues and this patient's values only.

Presidio Analyzer needs a spaCy model download and philter-lite's own filter an NLTK
tagger download, neither allowed at run time here: both are left out (their name lists are
used, see above).

    .venv/bin/python bench/free_text.py [--descriptors 240] [--sentences 100] [--seed 14]
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import pkgutil
import random
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import deidkit.rules.phi_text as phi_text
from deidkit.rules.descriptors import clean_text_spans
from deidkit.rules.phi_identifiers import PatientIdentifiers
from deidkit.rules.phi_lexicon import NameLists, name_lists
from deidkit.rules.phi_text import Span

# -- the corpus ---------------------------------------------------------------------------

SIEMENS = """t1_mprage_sag_p2_iso|ep2d_diff_mddw_20_p2|t2_tse_tra_p2|t2_space_sag_p2_iso
t1_vibe_fs_tra_bh_dyn|AAHead_Scout_32ch-head-coil|localizer|t2_haste_cor_bh|tof_fl3d_tra_p2
ep2d_bold_moco_rest|pcasl_3d_tra|t2_tirm_tra_dark-fluid|t1_fl2d_tra|swi_tra_p2|resolve_diff_tra
t1_vibe_dixon_tra_opp|t2_blade_tra_fs|ciss3d_tra|t1_se_sag|t2_tse_cor_fs|ep2d_perf_p2
t1_mp2rage_sag_iso|fl3d_vibe_ce_sag|t2_trufi_cor_bh|mprage_grappa2|ep2d_diff_tracew"""
GE = """Ax T2 FRFSE|AX FIESTA|Sag T1 BRAVO|Ax DWI b1000|COR HASTE BH|Ax T2 FLAIR|3D ASL
Ax LAVA-Flex|Sag CUBE T2|PROPELLER T2 Ax|Ax SWAN|3-Plane Loc|Calibration Scan|Ax IDEAL IQ
Cor SSFSE|Ax T1 FSPGR|Sag T2 FSE FS|Ax MRCP 3D FRFSE|Cor T1 SE|Ax DTI 25dir"""
PHILIPS = """sT1W_3D_TFE|T2W_TSE_SENSE|DWI_SSh_b1000|Survey|T1W_mDIXON_TFE|3D_BRAIN_VIEW_FLAIR
VISTA_T2_SAG|bFFE_BH_cor|THRIVE_dyn|Reference Scan|T2W_FFE|PD_TSE_SPAIR_cor|sWIP_DTI_32
T1W_SE_tra|T2W_DRIVE_3D"""
CT = """Thorax 1.0 B70f|Abdomen 3.0 Br40d|Head 5.0 H31s|Lung 1.25 LUNG|Soft Tissue 3.0 I30f
CTA Circle of Willis 0.75 Hv36|Topogram 0.6 T20s|Routine Head 5mm STANDARD|Bone 2.0 Br64d
CHEST W/CONTRAST 1.25mm BONE|AIDR3D Body 5mm FC13|iDose4 Chest 2mm B|Thorax 3.0 Br38
Abdomen Venous 5.0 B30f|Mediastinum 1.0 Bf37|Spine Bone 2.0 Br60|ASIR 40 Soft 2.5mm"""
US = """Carotid Doppler|OB 2/3 Trimester|Abd General|Thyroid|Renal Doppler|Venous DVT LE
Breast|Echo TTE Adult|OB 1st Trimester NT|Aorta|Testicular|Liver Elastography"""
STUDY = """MRI BRAIN W/WO CONTRAST|CT CHEST WITHOUT CONTRAST|CT ABD/PELVIS W CONTRAST
US ABDOMEN COMPLETE|MR KNEE LT WO|XR CHEST PA AND LAT|CTA HEAD AND NECK|MRI LUMBAR SPINE WO
PET/CT WHOLE BODY FDG|MAMMO SCREENING BILAT TOMO|MR PROSTATE MULTIPARAMETRIC|CT HEAD WO"""
SUFFIXES = ("", "", "", "_2", " 2", "_ND", " 1.5mm", "_RR", " (1)", "_MPR", " b800")

GIVEN = """John Mary Ahmed Priya Wei Olga Carlos Fatima Kenji Aisha Pierre Ingrid Tomasz Nkechi
Dmitri Lucia Rahul Siobhan Mateo Yuki Hannah Omar Chloe Sven Amara Diego Leila Bartholomew
Zephyrine Angela Jose Mohammed Sarah Henrik Ravi Ines Kofi Elena Patrick Mei""".split()
FAMILY = """Smith Jones Nguyen Patel Garcia Kowalski Okafor Schmidt Tanaka Rossi Haddad Murphy
Johansson Ivanova Mensah Fernandez Kim Brown Dubois Novak Chatterjee Moreau Quibbleforth
Merriweather Raghunathan Oyelaran Lindqvist Abernathy Castellanos Whitfield Petrov OBrien
Harrington Yamamoto Eriksen Delacroix Nakamura Okonkwo Hollis Vasquez""".split()
SENTENCES = (
    "Findings discussed with Dr. {F} on {D}.",
    "Seen with her husband {G} {F}.",
    "{G} {F} was informed of the results by phone.",
    "Comparison to prior study dated {D}, read by {G} {F}, MD.",
    "Patient {F}, {G} tolerated the procedure well.",
    "Results called to {G} {F} at 14:20 on {D}.",
    "Referred by Dr {G} {F} for evaluation of headache.",
    "pt {F} arrived late; exam performed {D}.",
    "Accompanied by daughter {G}. No acute intracranial abnormality.",
    "Dictated by {G} {F} on {D}. Mild degenerative change.",
)
CLEAN_SENTENCES = (
    "No acute intracranial hemorrhage or mass effect.",
    "Stable 4 mm nodule in the right upper lobe, no follow-up needed.",
    "Mild degenerative disc disease at L4-L5 without canal stenosis.",
    "Findings consistent with Crohn disease of the terminal ileum.",
    "Normal appearance of the Circle of Willis on TOF angiography.",
    "Impression: Hodgkin lymphoma, stable compared with the prior examination.",
    "Small Baker cyst posterior to the left knee joint.",
    "Patient tolerated contrast without complications.",
    "Recommend MRI with gadolinium in 3 months.",
    "Bilateral pleural effusions, larger on the right.",
)


@dataclass
class Item:
    """One text, where its planted PHI sits, and the patient's identifiers."""

    text: str
    phi: list[tuple[int, int]] = field(default_factory=list)
    names: list[tuple[int, int]] = field(default_factory=list)
    identifiers: PatientIdentifiers | None = None


def _templates() -> list[str]:
    blocks = (SIEMENS, GE, PHILIPS, CT, US, STUDY)
    return [t.strip() for b in blocks for line in b.splitlines() for t in line.split("|")]


def _date_text(rng: random.Random, day: dt.date) -> str:
    forms = ("%m/%d/%Y", "%Y%m%d", "%d.%m.%Y", "%Y-%m-%d", "%d-%b-%Y", "%B %d, %Y")
    return day.strftime(rng.choice(forms))


def _patient(rng: random.Random) -> tuple[str, str, dt.date, str, PatientIdentifiers]:
    given, family = rng.choice(GIVEN), rng.choice(FAMILY)
    day = dt.date(2015, 1, 1) + dt.timedelta(days=rng.randrange(3000))
    accession = f"A{rng.randrange(10**6, 10**7)}"
    ids = PatientIdentifiers(
        names=frozenset({given.lower(), family.lower()}), dates=frozenset({day}),
        ids=frozenset({accession.lower()}),
    )
    return given, family, day, accession, ids


def _insert(base: str, phi: str, rng: random.Random) -> Item:
    sep = "_" if "_" in base else " "
    text = f"{base}{sep}{phi}" if rng.random() < 0.6 else f"{phi}{sep}{base}"
    start = text.index(phi)
    return Item(text, [(start, start + len(phi))])


def descriptors(count: int, rng: random.Random) -> list[Item]:
    """Vendor-style descriptors; every third one with the patient's own PHI mixed in."""
    templates, items = _templates(), []
    for index in range(count):
        base = rng.choice(templates) + rng.choice(SUFFIXES)
        given, family, day, accession, ids = _patient(rng)
        if index % 3:
            items.append(Item(base, identifiers=ids))
            continue
        phi = rng.choice((
            f"{family.upper()}^{given.upper()}", f"Dr {family}", _date_text(rng, day),
            accession, f"{given} {family}", family.upper(),
        ))
        item = _insert(base, phi, rng)
        item.identifiers = ids
        items.append(item)
    return items


def sentences(count: int, rng: random.Random) -> list[Item]:
    """Radiology sentences with planted names and dates (not the patient's: names list test)."""
    items = []
    for index in range(count):
        if index % 5 == 4:
            items.append(Item(rng.choice(CLEAN_SENTENCES)))
            continue
        values = {"G": rng.choice(GIVEN), "F": rng.choice(FAMILY)}
        values["D"] = _date_text(rng, dt.date(2012, 1, 1) + dt.timedelta(rng.randrange(4000)))
        template, text, item = rng.choice(SENTENCES), "", Item("")
        for part in re.split(r"(\{[GFD]\})", template):
            if part in ("{G}", "{F}", "{D}"):
                value = values[part[1]]
                span = (len(text), len(text) + len(value))
                item.phi.append(span)
                if part != "{D}":
                    item.names.append(span)
                text += value
            else:
                text += part
        item.text = text
        items.append(item)
    return items


# -- cleaners -------------------------------------------------------------------------------

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
    """.split()
)
_SAFE_TOKEN = re.compile(r"^(\d{1,3}(\.\d+)?(mm|cm|ms|s|t|ml|cc|mg|mgi|mmol|%)?|[a-z]{1}\d{0,2})$")


def old_allow_list(value: str) -> str:
    """The research profile's Clean Descriptors before issue 14 (known words only)."""
    kept, dropped = [], False
    for token in re.split(r"[\s_^\\/,;:|]+", value):
        low = token.strip().lower().strip("().[]{}\"'")
        if not low:
            continue
        if low in _SAFE_WORDS or _SAFE_TOKEN.match(low):
            kept.append(token.strip().strip("().[]{}\"'"))
        else:
            dropped = True
    return value.strip(" \x00").replace("^", " ") if not dropped else " ".join(kept)


def _faker_lists() -> NameLists | None:
    try:
        import faker.providers.person as person
    except ImportError:
        return None
    first: set[str] = set()
    last: set[str] = set()
    for module in pkgutil.iter_modules(person.__path__):
        provider = getattr(importlib.import_module(f"{person.__name__}.{module.name}"),
                           "Provider", None)
        for attr, into in (("first_names", first), ("first_names_male", first),
                           ("first_names_female", first), ("last_names", last)):
            values = provider.__dict__.get(attr, ()) if provider else ()
            if isinstance(values, dict | tuple | list):  # some locales use properties
                into.update(v.lower() for v in values if isinstance(v, str) and v.isalpha())
    return NameLists(frozenset(first), frozenset(last), frozenset(), "faker")


@contextmanager
def _names(lists: NameLists | None) -> Iterator[None]:
    namespace = vars(phi_text)  # the detector looks the lists up in its module
    original = namespace["name_lists"]
    if lists is not None:
        namespace["name_lists"] = lambda: lists
    try:
        yield
    finally:
        namespace["name_lists"] = original


# -- measures -------------------------------------------------------------------------------

_TOKEN = re.compile(r"[^\W_]+")


def _tokens(text: str) -> list[str]:
    return [t.lower() for t in _TOKEN.findall(text)]


def _removed(text: str, out: str, where: tuple[int, int]) -> bool:
    """Every token of the planted value is gone (a span cleaner keeps the rest in order)."""
    left = set(_tokens(out))
    return all(t not in left for t in _tokens(text[where[0] : where[1]]))


@dataclass
class Score:
    phi: list[bool] = field(default_factory=list)
    verbatim: list[bool] = field(default_factory=list)
    safe_kept: int = 0
    safe_total: int = 0
    names: list[bool] = field(default_factory=list)
    false_spans: int = 0
    sentences: int = 0


def _safe_tokens(item: Item) -> list[str]:
    text = item.text
    for start, end in sorted(item.phi, reverse=True):
        text = text[:start] + " " + text[end:]
    return _tokens(text)


def measure(clean: Callable[[Item], tuple[str, tuple[Span, ...] | None]],
            descs: list[Item], sents: list[Item]) -> Score:
    score = Score()
    for item in descs:
        out, _ = clean(item)
        score.phi.extend(_removed(item.text, out, where) for where in item.phi)
        if not item.phi:
            score.verbatim.append(out == item.text)
        left = _tokens(out)
        safe = _safe_tokens(item)
        score.safe_total += len(safe)
        score.safe_kept += sum(1 for t in safe if t in left)
    for item in sents:
        out, spans = clean(item)
        score.sentences += 1
        score.phi.extend(_removed(item.text, out, where) for where in item.phi)
        score.names.extend(_removed(item.text, out, where) for where in item.names)
        if spans is None:  # a token filter: each dropped safe token is a false positive
            left = _tokens(out)
            score.false_spans += sum(1 for t in _safe_tokens(item) if t not in left)
        else:
            score.false_spans += sum(
                1 for s in spans if not any(s.start < e and st < s.end for st, e in item.phi)
            )
    return score


def _pct(values: list[bool]) -> str:
    return f"{100 * sum(values) / len(values):.1f} %" if values else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--descriptors", type=int, default=240)
    parser.add_argument("--sentences", type=int, default=100)
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    descs, sents = descriptors(args.descriptors, rng), sentences(args.sentences, rng)

    def new(item: Item) -> tuple[str, tuple[Span, ...]]:
        return clean_text_spans(item.text, item.identifiers)

    rows: list[tuple[str, Score | str]] = [
        ("old allow-list", measure(lambda i: (old_allow_list(i.text), None), descs, sents)),
    ]
    with _names(None):
        rows.append((f"new ({name_lists().source} names)", measure(new, descs, sents)))
    faker = _faker_lists()
    if faker is None:
        rows.append(("new, Faker names", "Faker not installed"))
    else:
        with _names(faker):
            rows.append(("new, Faker names", measure(new, descs, sents)))
    with _names(NameLists(frozenset(), frozenset(), frozenset(), "none")):
        rows.append(("new, no names list", measure(new, descs, sents)))
    rows.append(("Presidio Analyzer", "left out: needs a spaCy model download"))
    rows.append(("philter-lite filter", "left out: needs NLTK tagger data (download)"))
    with_phi = sum(1 for d in descs if d.phi)
    print(f"corpus: {len(descs)} descriptors ({with_phi} with the patient's PHI), "
          f"{len(sents)} sentences; seed {args.seed}")
    head = ("cleaner", "PHI removed", "PHI-free verbatim", "safe tokens kept", "name recall",
            "FP spans/100 sent.")
    print(" | ".join(f"{h:>18}" for h in head))
    for label, score in rows:
        if isinstance(score, str):
            print(f"{label:>18} | {score}")
            continue
        cells = (
            label, _pct(score.phi), _pct(score.verbatim),
            f"{100 * score.safe_kept / max(score.safe_total, 1):.1f} %", _pct(score.names),
            f"{100 * score.false_spans / max(score.sentences, 1):.1f}",
        )
        print(" | ".join(f"{c:>18}" for c in cells))


if __name__ == "__main__":
    main()
