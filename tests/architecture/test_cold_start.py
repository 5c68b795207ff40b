"""A cold call loads only what its work uses: every import is paid again by each CLI call.

``aigc-mark embed`` of a WAV paid about 1 s for scipy.signal and scipy.stats (the audible
label's filters) it never used. These tests run the file-level calls of a picture (embed and
detect) and of a recording (embed) in a fresh interpreter and list the heavy packages loaded.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from marking.kernels import aot
from tests.support.sample_photos import SAMPLES

PHOTO = SAMPLES / "photo-dandelions.jpg"

#: Packages no picture or recording call needs: codecs of other media, batch machinery,
#: progress bars, C2PA, and the slow SciPy subpackages (seconds of imports between them).
NEVER = (
    "scipy.signal",
    "scipy.stats",
    "scipy.interpolate",
    "scipy.optimize",
    "av",
    "dask",
    "distributed",
    "tqdm",
    "mutagen",
    "c2pa",
    "cryptography",
    "matplotlib",
)
#: And what each kind of call must not load beyond those.
NOT_FOR = {"picture": ("soundfile", "scipy.ndimage"), "recording": ("PIL", "scipy.ndimage")}
#: With a current ahead-of-time build of the kernels (``python -m marking.warmup``), neither
#: kind of call starts Numba (about 0.9 s of imports and start-up).
WITH_AOT = ("numba", "llvmlite")

CALLS = {
    "picture": """
from PIL import Image
Image.open(photo).convert("RGB").resize((800, 450)).save(f"{tmp}/in.jpg")
before = set(sys.modules)
from marking.files.image import detect_file, embed_file
embed_file(f"{tmp}/in.jpg", f"{tmp}/out.jpg", payload="0123456789abcdef")
found = detect_file(f"{tmp}/out.jpg").payload
after = set(sys.modules)
""",
    "recording": """
import numpy as np
import soundfile as sf
rng = np.random.default_rng(1)
sf.write(f"{tmp}/in.wav", 0.1 * rng.standard_normal((3 * 44100, 2)), 44100, subtype="PCM_16")
before = set(sys.modules)
from marking.files.audio import detect_audio_file, embed_audio_file
embed_audio_file(f"{tmp}/in.wav", f"{tmp}/out.wav", payload="0123456789abcdef")
after = set(sys.modules)  # detection's anti-alias filter does need scipy.signal
found = detect_audio_file(f"{tmp}/out.wav").payload
""",
}


def _run_fresh(code: str) -> dict:
    """Run ``code`` in a fresh interpreter; the JSON object its last line prints."""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _unwanted_in(loaded: list[str], unwanted: tuple[str, ...]) -> list[str]:
    """The ``unwanted`` packages among ``loaded``, Numba's too when the AOT kernels are built."""
    unwanted += WITH_AOT if aot.available() else ()
    return sorted(name for name in unwanted if name in set(loaded))


@pytest.mark.parametrize("kind", sorted(CALLS))
def test_a_cold_embed_and_detect_load_no_package_they_do_not_use(kind: str, tmp_path: Path) -> None:
    code = (
        f"import json, sys\ntmp, photo = {str(tmp_path)!r}, {str(PHOTO)!r}\n{CALLS[kind]}\n"
        "print(json.dumps({'found': found, 'loaded': sorted(after - before)}))"
    )
    record = _run_fresh(code)
    assert record["found"] == "0123456789abcdef"  # the work really ran
    assert _unwanted_in(record["loaded"], (*NEVER, *NOT_FOR[kind])) == []


def test_a_cold_mark_of_one_picture_loads_no_package_it_does_not_use(tmp_path: Path) -> None:
    """``aigc-mark mark photo.jpg`` (the quick start's first command) runs in the command's
    own process: no sound filters (the audible cue's settings are read, not its filters)."""
    from PIL import Image

    picture = tmp_path / "in.jpg"
    Image.open(PHOTO).convert("RGB").resize((800, 450)).save(picture)
    command = ["mark", str(picture), "-o", str(tmp_path / "out"), "--producer", "AcmeAI"]
    code = (
        "import json, sys\nfrom marking.cli.main import main\nbefore = set(sys.modules)\n"
        f"code = main({command!r})\n"
        "print(json.dumps({'code': code, 'loaded': sorted(set(sys.modules) - before)}))"
    )
    record = _run_fresh(code)
    assert record["code"] == 0
    assert (tmp_path / "out" / "in.jpg").is_file()  # the work really ran
    # soundfile (5 ms) comes with the cue's settings, which the config names; not its filters.
    assert _unwanted_in(record["loaded"], (*NEVER, "scipy.ndimage")) == []
