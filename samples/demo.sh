#!/usr/bin/env bash
# Demo: put an invisible watermark on a sample photo, then ask the detector about both the
# original and the marked copy. Run it with `make demo` (which installs the package first).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# Prefer the project's venv; AIGC_MARK=... overrides, plain `aigc-mark` on PATH is the fallback.
if [[ -n "${AIGC_MARK:-}" ]]; then
    MARK="$AIGC_MARK"
elif [[ -x "$ROOT/.venv/bin/aigc-mark" ]]; then
    MARK="$ROOT/.venv/bin/aigc-mark"
else
    MARK="aigc-mark"
fi

PHOTO="samples/photo-dandelions.jpg"
OUT_DIR="build/demo"
MARKED="$OUT_DIR/photo-dandelions-marked.jpg"
PAYLOAD="00c0ffee00c0ffee"

mkdir -p "$OUT_DIR"

echo "==> embed: $PHOTO -> $MARKED (payload $PAYLOAD)"
"$MARK" embed "$PHOTO" -o "$MARKED" --payload "$PAYLOAD"

echo
echo "==> detect: $PHOTO $MARKED"
# Exit 0 = a mark was found, 1 = no mark found (expected for the unmarked original);
# anything else is a real error.
rc=0
"$MARK" detect "$PHOTO" "$MARKED" --json >"$OUT_DIR/report.json" || rc=$?
cat "$OUT_DIR/report.json"
if [[ $rc -ne 0 && $rc -ne 1 ]]; then
    echo "demo: 'aigc-mark detect' failed with exit code $rc" >&2
    exit "$rc"
fi

# The marked copy on its own must be detected, or the demo has shown nothing.
echo
rc=0
"$MARK" detect "$MARKED" >/dev/null || rc=$?
if [[ $rc -ne 0 ]]; then
    echo "demo: FAILED - no watermark detected in $MARKED (exit code $rc)" >&2
    exit 1
fi
echo "demo: OK - watermark detected in $MARKED; report saved to $OUT_DIR/report.json"
