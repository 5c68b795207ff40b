#!/usr/bin/env bash
# Demo: label and watermark a sample photo and ask the detector about the original and the
# marked copy; watermark a sample recording and ask the detector about both again; label the
# recording (audio cue) and a sample video clip (burned-in text); label and watermark the clip
# in one pass (its sound track too) and ask the detector about it; then mark every sample in one
# parallel batch and verify the batch.
# Run it with `make demo` (which installs the package first).
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
if [[ -x "$ROOT/.venv/bin/python" ]]; then PY="$ROOT/.venv/bin/python"; else PY="python3"; fi

PHOTO="samples/photo-dandelions.jpg"
SPEECH="samples/speech-italian-male.flac"
CLIP="samples/video-big-buck-bunny.mp4"
OUT_DIR="build/demo"
LABELED="$OUT_DIR/photo-dandelions-labeled.jpg"
MARKED="$OUT_DIR/photo-dandelions-marked.jpg"
PAYLOAD="00c0ffee00c0ffee"

mkdir -p "$OUT_DIR"

# 1. Picture: the explicit label first, then the invisible watermark over the final pixels.
echo "==> label: $PHOTO -> $LABELED (visible 'AI生成', bottom-right)"
"$MARK" label "$PHOTO" -o "$LABELED" --json
echo
echo "==> embed: $LABELED -> $MARKED (payload $PAYLOAD)"
"$MARK" embed "$LABELED" -o "$MARKED" --payload "$PAYLOAD"

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
rc=0
"$MARK" detect "$MARKED" >/dev/null || rc=$?
if [[ $rc -ne 0 ]]; then
    echo "demo: FAILED - no watermark detected in $MARKED (exit code $rc)" >&2
    exit 1
fi

# The implicit label: GB 45438 metadata and IPTC source type, then a C2PA manifest signed with
# a throwaway test CA (made here, never committed), then one call that reports every mark.
SHIPPED="$OUT_DIR/photo-dandelions-shipped.jpg"
echo
echo "==> tag: $MARKED -> $SHIPPED (GB 45438 label, IPTC type, signed C2PA manifest)"
"$MARK" test-ca "$OUT_DIR/test-ca" >/dev/null
"$MARK" tag "$MARKED" -o "$SHIPPED" --producer ExampleAI --produce-id demo-0001 \
    --c2pa-cert "$OUT_DIR/test-ca/chain.pem" --c2pa-key "$OUT_DIR/test-ca/signer.key" \
    --watermark-payload "$PAYLOAD"
echo
echo "==> verify: $SHIPPED, and a copy re-encoded without its metadata"
"$PY" -c "from PIL import Image; Image.open('$SHIPPED').save('$OUT_DIR/photo-stripped.jpg', quality=90)"
"$MARK" verify "$SHIPPED" "$OUT_DIR/photo-stripped.jpg" --trust-anchors "$OUT_DIR/test-ca/root.pem"

# 2. Recording: the invisible watermark (FLAC stays 16 kHz mono FLAC), found again blindly.
SPEECH_MARKED="$OUT_DIR/speech-marked.flac"
echo
echo "==> embed: $SPEECH -> $SPEECH_MARKED (payload $PAYLOAD)"
"$MARK" embed "$SPEECH" -o "$SPEECH_MARKED" --payload "$PAYLOAD" --json
echo
echo "==> detect: $SPEECH $SPEECH_MARKED"
rc=0
"$MARK" detect "$SPEECH" "$SPEECH_MARKED" --json >"$OUT_DIR/speech-report.json" || rc=$?
cat "$OUT_DIR/speech-report.json"
if [[ $rc -ne 0 ]]; then
    echo "demo: FAILED - 'aigc-mark detect' exited with $rc on the recordings" >&2
    exit 1
fi
# The original must not be reported marked; the marked copy must carry exactly our payload.
"$PY" - "$OUT_DIR/speech-report.json" "$PAYLOAD" <<'CHECK'
import json, sys
original, marked = (json.loads(line) for line in open(sys.argv[1]))
if original["detected"]:
    sys.exit(f"demo: FAILED - a watermark was reported in the unmarked {original['file']}")
if not marked["detected"] or marked["payload"] != sys.argv[2]:
    sys.exit(f"demo: FAILED - payload {sys.argv[2]} not detected in {marked['file']}")
print(f"demo: recording mark found at {marked['offset']:.2f} s, original clean")
CHECK

# The Morse "AI" cue (short-long-short-short) before the speech.
echo
echo "==> label: $SPEECH -> $OUT_DIR/speech-labeled.flac (Morse 'AI' cue at the start)"
"$MARK" label "$SPEECH" -o "$OUT_DIR/speech-labeled.flac" --json

# 3. Video: the label on the first 2 seconds, sound copied.
echo
echo "==> label: $CLIP -> $OUT_DIR/video-labeled.mp4 (label for the first 2 s)"
"$MARK" label "$CLIP" -o "$OUT_DIR/video-labeled.mp4" --json

# 4. Video: the visible label and the invisible watermark in one transcode; the sound track
# carries the audio watermark with the same payload.
CLIP_MARKED="$OUT_DIR/video-marked.mp4"
echo
echo "==> embed: $CLIP -> $CLIP_MARKED (label for the first 2 s + watermark, payload $PAYLOAD)"
"$MARK" embed "$CLIP" -o "$CLIP_MARKED" --payload "$PAYLOAD" --label
echo
echo "==> detect: $CLIP $CLIP_MARKED"
rc=0
"$MARK" detect "$CLIP" "$CLIP_MARKED" --json >"$OUT_DIR/video-report.json" || rc=$?
cat "$OUT_DIR/video-report.json"
if [[ $rc -ne 0 ]]; then
    echo "demo: FAILED - 'aigc-mark detect' exited with $rc on the videos" >&2
    exit 1
fi
"$PY" - "$OUT_DIR/video-report.json" "$PAYLOAD" <<'CHECK'
import json, sys
original, marked = (json.loads(line) for line in open(sys.argv[1]))
if original["detected"]:
    sys.exit(f"demo: FAILED - a watermark was reported in the unmarked {original['file']}")
if not marked["detected"] or marked["payload"] != sys.argv[2]:
    sys.exit(f"demo: FAILED - payload {sys.argv[2]} not detected in {marked['file']}")
if marked["found_in"] != ["video", "audio"]:
    sys.exit(f"demo: FAILED - the mark was found only in {marked['found_in']}")
print("demo: video mark found in the frames and the sound, original clean")
CHECK

# 5. The whole marking of every sample in one parallel batch (label or cue, watermark,
# GB 45438 metadata, signed C2PA), with a JSON-lines report; then verify the whole batch.
BATCH="$OUT_DIR/batch"
rm -rf "$BATCH"
echo
echo "==> mark: samples/ -> $BATCH/ (every photo, recording and clip; report $OUT_DIR/batch.jsonl)"
"$MARK" mark samples/photo-* samples/*.flac samples/*.mp4 -o "$BATCH" --producer ExampleAI \
    --no-progress \
    --c2pa-cert "$OUT_DIR/test-ca/chain.pem" --c2pa-key "$OUT_DIR/test-ca/signer.key" \
    --report "$OUT_DIR/batch.jsonl"
echo
echo "==> verify: $BATCH/ (report $OUT_DIR/batch-verify.jsonl)"
"$MARK" verify "$BATCH" --trust-anchors "$OUT_DIR/test-ca/root.pem" --no-progress \
    --report "$OUT_DIR/batch-verify.jsonl"
"$PY" - "$OUT_DIR/batch.jsonl" "$OUT_DIR/batch-verify.jsonl" <<'CHECK'
import json, sys
marked = [json.loads(line) for line in open(sys.argv[1])]
checked = [json.loads(line) for line in open(sys.argv[2])]
bad = [r["input"] for r in marked if r["status"] != "marked"]
if bad:
    sys.exit(f"demo: FAILED - not marked: {bad}")
wrong = [r["input"] for r in checked if not (r.get("ai_marked") and r["agreement"] == "agree"
         and (r["c2pa"] or {}).get("state") == "valid")]
if wrong or len(checked) != len(marked):
    sys.exit(f"demo: FAILED - the batch does not verify: {wrong}")
kinds = sorted({r["modality"] for r in marked})
print(f"demo: {len(marked)} files marked ({', '.join(kinds)}); every one verifies: watermark"
      " agrees with the metadata label, C2PA manifest valid")
CHECK

echo
echo "demo: OK - outputs in $OUT_DIR/ (labeled, watermarked, tagged and signed photo, verified;"
echo "      watermarked and labeled recording; labeled video; labeled and watermarked video;"
echo "      every sample marked in one batch, in $BATCH/); detection reports in"
echo "      $OUT_DIR/report.json, $OUT_DIR/speech-report.json and $OUT_DIR/video-report.json;"
echo "      batch reports in $OUT_DIR/batch.jsonl and $OUT_DIR/batch-verify.jsonl"
