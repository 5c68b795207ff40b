"""Layer 4, the visible and audible labels: text on pictures and video frames, the audio cue
and its reader.

Rule: in-memory arrays and PIL images; opens no media file (only the label's font).
"""
