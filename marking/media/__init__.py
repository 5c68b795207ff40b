"""Layer 3, the media edges: content sniffing, atomic writes, interrupts, and the Pillow,
soundfile and PyAV readers and writers (probing, frames, transcoding, the sound pass).

Rule: the only place that opens media with Pillow, soundfile or PyAV; knows nothing of
watermarks, labels or tags.
"""
