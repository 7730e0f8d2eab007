"""Attribute lookup in the functional groups of enhanced multi-frame images.

Enhanced images (PS3.3 C.7.6.16) move per-frame attributes (plane position,
pixel measures, rescale, window) out of the top level into functional group
macros: the Per-frame Functional Groups Sequence (5200,9230), one item per
frame, and the Shared Functional Groups Sequence (5200,9229), one item for all.
"""

from __future__ import annotations

from pydicom.dataset import Dataset

__all__ = ["functional_group_item"]


def functional_group_item(ds: Dataset, frame: int, sequence: str) -> Dataset | None:
    """The first item of ``sequence`` for 0-based ``frame``: per-frame first, then shared."""
    for groups, index in (
        (ds.get("PerFrameFunctionalGroupsSequence"), frame),
        (ds.get("SharedFunctionalGroupsSequence"), 0),
    ):
        if groups and 0 <= index < len(groups):
            found = groups[index].get(sequence)
            if found:
                item: Dataset = found[0]
                return item
    return None
