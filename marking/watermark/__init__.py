"""Layer 4, the invisible watermark on arrays: pictures, sample streams and video frames.

Rule: arrays, frames and sample blocks in and out; never a file path or a media library.
"""
