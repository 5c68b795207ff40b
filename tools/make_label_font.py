"""Build marking/fonts/aigc-label-sans-bold.otf, the font used for visible labels.

The font is a subset of Noto Sans CJK SC Bold (SIL Open Font License 1.1) from Debian's
`fonts-noto-cjk` package. It keeps printable ASCII, the CJK characters of the label presets
and a short list of common label words and punctuation, so it stays small enough to ship
inside the package. The subset is renamed "AIGC Label Sans": under the OFL a subset is a
Modified Version, and "Noto" is a Google trademark, so the subset does not carry that name.

This script is only needed to rebuild the font; the built file is committed and the package
does not need fontTools at run time.

Usage (Debian 12, fonttools 4.x):

    apt-get download fonts-noto-cjk          # 1:20220127+repack1-1
    dpkg-deb -x fonts-noto-cjk_*.deb /tmp/noto
    python tools/make_label_font.py \
        /tmp/noto/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc \
        marking/fonts/aigc-label-sans-bold.otf

Or, with `fonts-noto-cjk` installed, run it with no arguments.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTCollection, TTFont

DEFAULT_SOURCE = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc")
DEFAULT_OUTPUT = (
    Path(__file__).resolve().parent.parent / "marking" / "fonts" / ("aigc-label-sans-bold.otf")
)
# Face of the collection to take: Simplified Chinese, bold.
SOURCE_PS_NAME = "NotoSansCJKsc-Bold"

FAMILY = "AIGC Label Sans"
STYLE = "Bold"
PS_NAME = "AIGCLabelSans-Bold"

# The label presets. Every character of these must be in the font.
PRESETS = ("AI生成", "人工智能生成", "AI合成", "AI-generated")

# Common words for custom labels (kept short: every CJK glyph costs a few hundred bytes).
EXTRA_WORDS = (
    "生成 合成 人工 智能 内容 由 标识 本 此 该 图片 图像 视频 音频 声音 文字 文本 作品 "
    "技术 深度 伪造 制作 辅助 使用 部分 全部 含有 包含 模型 算法 大 数字 虚拟 人物 "
    "请 注意 提示 仅供 参考 非 真实 创作 编辑 处理 平台 来源 水印 隐式 显式 "
    "疑似 谨慎 甄别 鉴别 娱乐 声明 警告 信息 发布 者 上传 "
    "的 是 为 和 与 或 已 经 不 可 能 有 无 中 及 等"
)
# Full-width and CJK punctuation, plus a few typographic symbols used in labels.
# (\u2018 \u2019 are curly single quotes, \uff5e is the full-width tilde.)
EXTRA_PUNCTUATION = "，。、：；！？（）【】《》“”\u2018\u2019「」·…—\uff5e ©®™°•"


def label_text() -> str:
    """Every character that the subset must map, ASCII first."""
    ascii_printable = "".join(chr(c) for c in range(0x20, 0x7F))
    chars = dict.fromkeys(ascii_printable + "".join(PRESETS) + EXTRA_WORDS + EXTRA_PUNCTUATION)
    return "".join(chars)


def load_face(source: Path) -> TTFont:
    """The Simplified Chinese bold face, from a .ttc collection or a single .otf file."""
    if source.suffix.lower() in (".ttc", ".otc"):
        collection = TTCollection(str(source), lazy=False)
        for font in collection.fonts:
            if font["name"].getDebugName(6) == SOURCE_PS_NAME:
                return font
        raise SystemExit(f"{source}: no face named {SOURCE_PS_NAME}")
    return TTFont(str(source), lazy=False)


def rename(font: TTFont) -> None:
    """Give the subset its own name (name table and CFF), keeping copyright and license."""
    name = font["name"]
    version = name.getDebugName(5) or ""
    source_version = version.split(";")[0].replace("Version ", "")
    # Kept: copyright, trademark notice, vendor, designers, URLs, license.
    keep = {0, 7, 8, 9, 10, 11, 12, 13, 14}
    name.names = [r for r in name.names if r.nameID in keep]
    new = {
        1: FAMILY,
        2: STYLE,
        3: f"{source_version};{PS_NAME};subset of {SOURCE_PS_NAME}",
        4: f"{FAMILY} {STYLE}",
        5: f"Version {source_version}; subset of Noto Sans CJK SC Bold",
        6: PS_NAME,
    }
    for name_id, text in new.items():
        name.setName(text, name_id, 3, 1, 0x409)  # Windows, Unicode BMP, English (US)
    # Description (nameID 10) acknowledges the source, as the OFL allows.
    name.setName(
        "Subset of Noto Sans CJK SC Bold for the visible labels of aigc-marking. "
        "Renamed as a Modified Version under the SIL Open Font License 1.1.",
        10,
        3,
        1,
        0x409,
    )

    cff = font["CFF "].cff
    old_ps = cff.fontNames[0]
    cff.fontNames = [PS_NAME]
    top = cff.topDictIndex[0]
    top.FullName = f"{FAMILY} {STYLE}"
    top.FamilyName = FAMILY
    if hasattr(top, "FDArray"):  # CID-keyed: each font dict has its own FontName
        for fd in top.FDArray:
            fd_name = getattr(fd, "FontName", None)
            if fd_name and fd_name.startswith(old_ps):
                fd.FontName = PS_NAME + fd_name[len(old_ps) :]

    # Windows weight/style flags stay those of the source (Bold, 700).


def build(source: Path, output: Path) -> TTFont:
    font = load_face(source)
    options = subset.Options()
    options.layout_features = ["kern", "liga", "palt", "halt"]  # no locale/vertical variants
    options.drop_tables += ["vhea", "vmtx", "VORG", "BASE"]  # horizontal labels only
    options.name_IDs = ["*"]
    options.name_languages = ["*"]
    options.notdef_outline = True
    options.recalc_bounds = True
    options.desubroutinize = True  # the few glyphs left share little; plainer CFF is smaller
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=label_text())
    subsetter.subset(font)
    rename(font)
    font.recalcTimestamp = False  # keep the source's dates, so a rebuild is byte-identical
    output.parent.mkdir(parents=True, exist_ok=True)
    font.save(str(output))
    return font


def check(output: Path) -> None:
    """Every wanted character maps to a glyph that is not .notdef."""
    font = TTFont(str(output))
    cmap = font.getBestCmap()
    missing = [ch for ch in label_text() if cmap.get(ord(ch)) in (None, ".notdef")]
    if missing:
        raise SystemExit(f"{output}: characters without a glyph: {''.join(missing)!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", nargs="?", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("output", nargs="?", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    build(args.source, args.output)
    check(args.output)
    font = TTFont(str(args.output))
    print(
        f"{args.output}: {args.output.stat().st_size} bytes, "
        f"{len(font.getGlyphOrder())} glyphs, {len(font.getBestCmap())} characters"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
