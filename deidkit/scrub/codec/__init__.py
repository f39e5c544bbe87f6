"""The scrub's codec: the only code that knows pydicom's internals.

Fast reading of a file into a dataset of raw elements (:func:`read_dicom`), reading and
replacing values on still-raw elements without decoding them (``*_value``, ``*_text``), the
element-map edits the walk needs (:func:`element_map`, :func:`convert_element`, ...), and
the encoder that writes exactly the bytes ``Dataset.save_as`` would (:func:`encode_file`).
Nothing outside :mod:`deidkit.scrub` imports this package (an import contract checks it).
"""

from deidkit.scrub.codec.dataset import (
    Element,
    add_element,
    convert_element,
    element_map,
    encode_sequence,
    is_plain_raw,
    is_short_read,
    set_new_file_meta,
    store_element,
)
from deidkit.scrub.codec.encode import encode_file
from deidkit.scrub.codec.read import read_dicom, read_sequence_value
from deidkit.scrub.codec.values import (
    decoded_values,
    peek_text,
    raw_strings,
    raw_text,
    replace_value,
    set_value,
    text_value,
)

__all__ = [
    "Element",
    "add_element",
    "convert_element",
    "decoded_values",
    "element_map",
    "encode_file",
    "encode_sequence",
    "is_plain_raw",
    "is_short_read",
    "peek_text",
    "raw_strings",
    "raw_text",
    "read_dicom",
    "read_sequence_value",
    "replace_value",
    "set_new_file_meta",
    "set_value",
    "store_element",
    "text_value",
]
