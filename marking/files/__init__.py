"""Layer 5, files: embed, detect and label one picture, recording or video on disk.

Rule: the only place a path meets a watermark or a label.
"""
