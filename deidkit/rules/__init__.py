"""What the standard and the profile say, as data: PS3.15 Table E.1-1 and the safe-private
table, PS3.3 attribute Types per IOD, profiles (YAML) and pydicom/deid recipes folded into
them, which action applies to a tag (:func:`decide_tag`, the scrub's and explain's one
decision, over :func:`decide` and :func:`compiled_table`) and why
(:func:`explain_tag`), and the same codes applied to BIDS JSON sidecars, whose keys are DICOM
keywords (:func:`scrub_bids_json`, :func:`scrub_sidecar`). No dataset is touched here;
scrub, verify, deface, ``pseudonymise --bids`` and ``deidkit profiles`` all read the rules
from this package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from deidkit._lazy import lazy_exports

if TYPE_CHECKING:
    from deidkit.rules.conditions import effective_type
    from deidkit.rules.decisions import (
        Decision,
        compiled_table,
        decide,
        decide_tag,
        keyed_decision,
        pattern_decisions,
        resolve_mixed,
    )
    from deidkit.rules.descriptors import clean_text
    from deidkit.rules.explain import (
        Explanation,
        explain_tag,
    )
    from deidkit.rules.phi_identifiers import PatientIdentifiers, collect_identifiers
    from deidkit.rules.phi_text import Span, find_phi_spans, remove_spans, span_summary
    from deidkit.rules.profile import (
        Profile,
        list_profiles,
        load_profile,
    )
    from deidkit.rules.recipe import (
        RecipeMapping,
        map_recipe,
    )
    from deidkit.rules.sidecars import (
        KeyRule,
        ScrubbedJson,
        key_rule,
        scrub_bids_json,
        scrub_sidecar,
    )
    from deidkit.rules.standard import (
        TABLE_EDITION,
        TableRow,
        attribute_type,
        ciod_for_sop_class,
        normalise_tag,
        parse_tag_text,
        row_for_tag,
        safe_private_table,
        tag_text,
    )
    from deidkit.rules.uids import is_registered_uid, is_standard_uid, keeps_uid

_EXPORTS = {
    "Decision": "deidkit.rules.decisions",
    "decide": "deidkit.rules.decisions",
    "decide_tag": "deidkit.rules.decisions",
    "keyed_decision": "deidkit.rules.decisions",
    "compiled_table": "deidkit.rules.decisions",
    "pattern_decisions": "deidkit.rules.decisions",
    "resolve_mixed": "deidkit.rules.decisions",
    "clean_text": "deidkit.rules.descriptors",
    "PatientIdentifiers": "deidkit.rules.phi_identifiers",
    "collect_identifiers": "deidkit.rules.phi_identifiers",
    "Span": "deidkit.rules.phi_text",
    "find_phi_spans": "deidkit.rules.phi_text",
    "remove_spans": "deidkit.rules.phi_text",
    "span_summary": "deidkit.rules.phi_text",
    "Explanation": "deidkit.rules.explain",
    "explain_tag": "deidkit.rules.explain",
    "Profile": "deidkit.rules.profile",
    "list_profiles": "deidkit.rules.profile",
    "load_profile": "deidkit.rules.profile",
    "RecipeMapping": "deidkit.rules.recipe",
    "map_recipe": "deidkit.rules.recipe",
    "KeyRule": "deidkit.rules.sidecars",
    "ScrubbedJson": "deidkit.rules.sidecars",
    "key_rule": "deidkit.rules.sidecars",
    "scrub_bids_json": "deidkit.rules.sidecars",
    "scrub_sidecar": "deidkit.rules.sidecars",
    "TABLE_EDITION": "deidkit.rules.standard",
    "TableRow": "deidkit.rules.standard",
    "tag_text": "deidkit.rules.standard",
    "parse_tag_text": "deidkit.rules.standard",
    "normalise_tag": "deidkit.rules.standard",
    "row_for_tag": "deidkit.rules.standard",
    "attribute_type": "deidkit.rules.standard",
    "ciod_for_sop_class": "deidkit.rules.standard",
    "safe_private_table": "deidkit.rules.standard",
    "effective_type": "deidkit.rules.conditions",
    "is_registered_uid": "deidkit.rules.uids",
    "is_standard_uid": "deidkit.rules.uids",
    "keeps_uid": "deidkit.rules.uids",
}

__all__ = [
    "Decision",
    "Explanation",
    "KeyRule",
    "PatientIdentifiers",
    "Profile",
    "RecipeMapping",
    "ScrubbedJson",
    "Span",
    "TABLE_EDITION",
    "TableRow",
    "attribute_type",
    "ciod_for_sop_class",
    "clean_text",
    "collect_identifiers",
    "compiled_table",
    "decide",
    "decide_tag",
    "effective_type",
    "explain_tag",
    "find_phi_spans",
    "is_registered_uid",
    "is_standard_uid",
    "keeps_uid",
    "key_rule",
    "keyed_decision",
    "list_profiles",
    "load_profile",
    "map_recipe",
    "normalise_tag",
    "parse_tag_text",
    "pattern_decisions",
    "remove_spans",
    "resolve_mixed",
    "row_for_tag",
    "safe_private_table",
    "scrub_bids_json",
    "scrub_sidecar",
    "span_summary",
    "tag_text",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
