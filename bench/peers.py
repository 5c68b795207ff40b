"""The peers: invisible-watermark's ``dwtDct`` and ``dwtDctSvd`` (loaded without torch), and
blind-watermark.

blind-watermark (guofei9987/blind_watermark, PyPI ``blind-watermark``) embeds bits in the DWT
low band of every YUV channel, DCT of 4x4 blocks, SVD; it is installed with ``--no-deps`` (it
asks for the GUI build of OpenCV; the headless one the bench extra brings is enough). Its
``WaterMark(password_wm=1, password_img=1)`` is used with its defaults, 64 bits in ``bit``
mode; decoding thresholds its k-means soft bits at 0.5.

``import imwatermark`` fails without PyTorch: the package ``__init__`` imports ``watermark.py``,
which imports ``rivaGan.py``, which imports ``torch`` at module level. The two classical methods
do not need it, so this module loads ``maxDct.py`` and ``dwtDctSvd.py`` straight from the
installed files with :func:`importlib.util.spec_from_file_location`, bypassing the package
``__init__``. (The alternative, a stub ``torch`` in ``sys.modules``, would leak into every other
import in the process.) Neither file uses relative imports, so they load as plain modules.

:func:`encode` and :func:`decode` reproduce ``WatermarkEncoder(...).encode(bgr, method)`` and
``WatermarkDecoder('bytes', 64).decode(bgr, method)`` from ``imwatermark/watermark.py`` step by
step: the payload becomes ``list(np.unpackbits(bytes))``, the class is built with its default
``scales`` and ``block`` (dwtDct: scales [0, 36, 36], dwtDctSvd: [0, 36, 0], block 4; only
channels 0 and 1 are visited, so both embed in the U chroma plane of the 4-aligned area), the
image is BGR uint8, converted to YUV, embedded, converted back to BGR inside the peer's own
``encode``. Decoding averages the per-block votes of each bit and thresholds them; the bits are
returned as the decoder's ``reconstruct_bytes`` would pack them.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from functools import cache
from pathlib import Path
from types import ModuleType

import numpy as np

#: Peer methods compared: invisible-watermark's, by the names it gives them, and blind-watermark.
BLIND = "blind-watermark"
METHODS = ("dwtDct", "dwtDctSvd", BLIND)
_FILES = {"dwtDct": ("maxDct", "EmbedMaxDct"), "dwtDctSvd": ("dwtDctSvd", "EmbedDwtDctSvd")}
#: WatermarkEncoder / WatermarkDecoder refuse images with fewer pixels than this.
MIN_PIXELS = 256 * 256


def package_dir() -> Path:
    """The installed ``imwatermark`` directory, found without importing the package."""
    spec = importlib.util.find_spec("imwatermark")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "invisible-watermark is not installed (make bench installs it with --no-deps)"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def version() -> str:
    """The installed invisible-watermark version."""
    from importlib.metadata import version as dist_version

    return dist_version("invisible-watermark")


@cache
def _module(stem: str) -> ModuleType:
    path = package_dir() / f"{stem}.py"
    spec = importlib.util.spec_from_file_location(f"_peer_imwatermark_{stem}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def embedder_class(method: str) -> Callable[..., object]:
    """``EmbedMaxDct`` (dwtDct) or ``EmbedDwtDctSvd`` (dwtDctSvd)."""
    stem, name = _FILES[method]
    return getattr(_module(stem), name)


def _check_size(bgr: np.ndarray) -> None:
    rows, cols, _channels = bgr.shape
    if rows * cols < MIN_PIXELS:
        raise RuntimeError("image too small, should be larger than 256x256")


def version_of(method: str) -> str:
    """The installed version of the package behind ``method``."""
    from importlib.metadata import version as dist_version

    return dist_version(BLIND if method == BLIND else "invisible-watermark")


@cache
def _blind() -> ModuleType:
    """blind_watermark, imported without its import-time ``set_start_method('fork')`` (which
    raises once the process has a start method, and would change it for everyone; its
    default ``common`` mode never starts processes anyway)."""
    import multiprocessing
    from unittest import mock

    with mock.patch.object(multiprocessing, "set_start_method", return_value=None):
        import blind_watermark
    blind_watermark.bw_notes.close()  # it prints a banner on first use otherwise
    return blind_watermark


def _blind_encode(bgr: np.ndarray, payload: bytes) -> np.ndarray:
    marker = _blind().WaterMark(password_wm=1, password_img=1)
    marker.read_img(img=bgr)
    marker.read_wm(np.unpackbits(np.frombuffer(payload, np.uint8)).astype(bool), mode="bit")
    return np.clip(np.rint(marker.embed()), 0, 255).astype(np.uint8)


def _blind_decode(bgr: np.ndarray, n_bits: int) -> np.ndarray:
    reader = _blind().WaterMark(password_wm=1, password_img=1)
    soft = reader.extract(embed_img=bgr.astype(np.float32), wm_shape=n_bits, mode="bit")
    return np.asarray(soft) >= 0.5


def encode(method: str, bgr: np.ndarray, payload: bytes) -> np.ndarray:
    """Mark a BGR uint8 image as ``WatermarkEncoder(payload).encode(bgr, method)`` does (or
    as blind-watermark's ``WaterMark.embed``)."""
    if method == BLIND:
        return _blind_encode(bgr, payload)
    seq = np.array(list(payload), dtype=np.uint8)
    watermarks = list(np.unpackbits(seq))
    _check_size(bgr)
    embedder = embedder_class(method)(watermarks, wmLen=len(watermarks))
    return embedder.encode(bgr)  # type: ignore[attr-defined]


def decode(method: str, bgr: np.ndarray, n_bits: int = 64) -> np.ndarray:
    """The ``n_bits`` bits (bool) ``WatermarkDecoder('bytes', n_bits).decode`` reads."""
    if method == BLIND:
        return _blind_decode(bgr, n_bits)
    _check_size(bgr)
    embedder = embedder_class(method)(watermarks=[], wmLen=n_bits)
    bits = np.asarray(embedder.decode(bgr), dtype=bool)  # type: ignore[attr-defined]
    if len(bits) != n_bits:
        raise RuntimeError("bits are not matched with watermark length")
    return bits


def decode_bytes(method: str, bgr: np.ndarray, n_bits: int = 64) -> bytes:
    """Decode and pack as ``WatermarkDecoder.reconstruct_bytes`` does."""
    return np.packbits(decode(method, bgr, n_bits))[: n_bits // 8].tobytes()


def rgb_to_bgr(rgb: np.ndarray) -> np.ndarray:
    """Channel order the peer expects (``cv2.imread`` order), as a contiguous uint8 array."""
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[:, :, None], 3, axis=2)
    return np.ascontiguousarray(rgb[:, :, 2::-1])


def bgr_to_rgb(bgr: np.ndarray) -> np.ndarray:
    """Back to RGB order."""
    return np.ascontiguousarray(bgr[:, :, ::-1])
