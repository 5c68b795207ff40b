"""IPTC digital source types: the vocabulary XMP and C2PA use to say how media was made.

Kept in a module of its own, free of heavy imports, so every layer (XMP, C2PA, verify, the
command line) names them from one place.
"""

from __future__ import annotations

SOURCE_TYPE_BASE = "http://cv.iptc.org/newscodes/digitalsourcetype/"
TRAINED_ALGORITHMIC_MEDIA = SOURCE_TYPE_BASE + "trainedAlgorithmicMedia"
COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA = SOURCE_TYPE_BASE + "compositeWithTrainedAlgorithmicMedia"
ALGORITHMIC_MEDIA = SOURCE_TYPE_BASE + "algorithmicMedia"
COMPOSITE_SYNTHETIC = SOURCE_TYPE_BASE + "compositeSynthetic"

#: Source types that declare that AI made or helped make the content.
AI_SOURCE_TYPES = frozenset(
    {
        TRAINED_ALGORITHMIC_MEDIA,
        COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA,
        ALGORITHMIC_MEDIA,
        COMPOSITE_SYNTHETIC,
    }
)
