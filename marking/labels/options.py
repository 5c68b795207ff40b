"""The choices a visible label offers, in a module light enough for the command line to import.

The wordings follow GB 45438: the text contains "AI" or "人工智能" and "生成" or "合成".
"""

from __future__ import annotations

#: The label wordings of the rules, by name; any other text that complies works too.
PRESETS = {
    "ai-generated-zh": "AI生成",
    "ai-generated-zh-full": "人工智能生成",
    "ai-synthesized-zh": "AI合成",
    "ai-generated-en": "AI-generated",
}
DEFAULT_TEXT = PRESETS["ai-generated-zh"]
#: An edge or a corner, as the rules ask.
POSITIONS = (
    "top-left",
    "top",
    "top-right",
    "left",
    "right",
    "bottom-left",
    "bottom",
    "bottom-right",
)
