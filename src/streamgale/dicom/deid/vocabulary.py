"""The words a cleaned descriptor may keep: the standard's own vocabulary.

Clean Descriptors (PS3.15 E.3.5) must take out identifying text that the
instance does not name anywhere else, such as a relative or a colleague named
in Patient Comments. No list of names is complete, so cleaning works the
other way round: a word stays only if it is known to be a clinical or
technical term, and every other word is replaced. The known words come from
the standard, as pydicom ships it:

- the PS3.6 data dictionary (the words of every attribute name: "Contrast",
  "Axial", "Slice", "Kernel"...);
- the PS3.16 code meanings (SNOMED CT, DICOM, RadLex, UCUM... concepts:
  "chest", "routine", "iohexol", "follow"...), keeping a word only where it
  is written in lower case, in capitals (an acronym), or capitalised as the
  first word of a sentence-case meaning ("Cough"). A word written capitalised
  anywhere else is a proper noun ("Hodgkin lymphoma", "Müller Method") and is
  left out, since a surname often is one;
- a short list below of the abbreviations technologists type that neither
  has (MR sequence names, "w/o", "lat"), and everyday English words.

Limits, honestly: common English words that are also names ("Brown",
"White", "Green", "Walker", "Wright") are in the vocabulary and survive
cleaning; of 77 very common English, Spanish and German first names and
surnames, 8 are (brown, white, green, walker, wright, lewis, flores, robert).

>>> words = descriptor_vocabulary()
>>> {"chest", "contrast", "helical", "flair"} <= words
True
>>> {"holmes", "watson", "moriarty", "parkinson"} & words
set()
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["descriptor_vocabulary"]

_EXTRA_WORDS = """
    adc asl ax axi bold cor cta cte ctp cube dti dwi epi fiesta flair fl2d fl3d frfse fse
    gre haste lat lava mip mpr mprage mra mrcp mrv obl pd pdw ped pre post sag scout space
    spgr ssfse stir swi t1 t1w t2 t2w tof trufi tse vibe w wo helical spiral recon
    a an and are as at be been born brother by called daughter father for from had has he
    her his husband in is it lives mother no not of ok on or per prefers she sister son
    the to was wife with without yes
"""
"""Sequence and view abbreviations in everyday series and protocol names, and the
everyday English words that carry no identity."""

_WORD = re.compile(r"[^\W\d_]+")
_CAMEL = re.compile(r"[A-Z][a-z]+|[A-Z]+(?![a-z])|[a-z]+")


@functools.lru_cache(maxsize=1)
def descriptor_vocabulary() -> frozenset[str]:
    """Lower-case words a cleaned descriptor may keep (built once, about 0.3 s)."""
    from pydicom.datadict import keyword_dict
    from pydicom.sr._concepts_dict import concepts

    words = set(_EXTRA_WORDS.split())
    for keyword in keyword_dict:
        words.update(w.lower() for w in _CAMEL.findall(keyword))
    first_only: set[str] = set()
    proper: set[str] = set()
    schemes: Mapping[str, Mapping[str, Mapping[str, tuple[str, Any]]]] = concepts  # type: ignore[assignment]
    for scheme in schemes.values():
        for codes in scheme.values():
            for meaning, _cids in codes.values():
                found = _WORD.findall(meaning)
                sentence_case = len(found) == 1 or found[1].islower()
                for position, word in enumerate(found):
                    if word.islower() or (word.isupper() and len(word) > 1):
                        words.add(word.lower())
                    elif position == 0 and sentence_case:
                        first_only.add(word.lower())
                    else:
                        proper.add(word.lower())
    return frozenset(words | (first_only - proper))
