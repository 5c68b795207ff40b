"""Layer 4, the metadata labels: the GB 45438 label, XMP, IPTC, per-container tag readers and
writers, and C2PA manifests.

Rule: bytes and containers; never decodes media; never imports the watermark or the labels.
"""
