#!/usr/bin/env bash
# Demo: everything the toolkit does, on the samples, with a short summary at the end.
#   photo:     visible label, invisible watermark, GB 45438 + IPTC metadata and a signed C2PA
#              manifest; detect and verify it, and a copy re-encoded without its metadata;
#   recording: watermark (found again blindly), and the Morse "AI" cue;
#   video:     visible label; label and watermark (frames and sound) in one pass; the fast
#              profile held to a plain re-encode's size;
#   batch:     every sample marked in one parallel batch, then the whole batch verified;
#   server:    `aigc-mark serve` asked through its HTTP API, as the public would.
# Each command's JSON record goes to build/demo/json/, its messages to build/demo/logs/. A step
# whose outputs exist and are newer than its inputs is not run again ("reused"); the batch
# resumes. The demo exits non-zero when any detection or verification does not come out right.
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
if [[ -n "${DEMO_PYTHON:-}" ]]; then
    PY="$DEMO_PYTHON"
elif [[ -x "$ROOT/.venv/bin/python" ]]; then
    PY="$ROOT/.venv/bin/python"
else
    PY="python3"
fi

PHOTO="samples/photo-dandelions.jpg"
SPEECH="samples/speech-italian-male.flac"
CLIP="samples/video-big-buck-bunny.mp4"
OUT_DIR="build/demo"
JSON="$OUT_DIR/json"
LOGS="$OUT_DIR/logs"
CA="$OUT_DIR/test-ca"
BATCH="$OUT_DIR/batch"
PAYLOAD="00c0ffee00c0ffee"
STEPS="$OUT_DIR/steps.tsv" # step, new|reused, seconds: read by the summary

mkdir -p "$JSON" "$LOGS"
: >"$STEPS"

# newer FILE INPUT...: FILE exists and is newer than every input.
newer() {
    local file=$1 input
    shift
    [[ -e $file ]] || return 1
    for input in "$@"; do [[ $file -nt $input ]] || return 1; done
}

# fresh OUTPUT... -- INPUT...: every output is a non-empty file newer than every input.
fresh() {
    local outputs=() output
    while [[ $1 != -- ]]; do outputs+=("$1"); shift; done
    shift
    for output in "${outputs[@]}"; do
        [[ -s $output ]] && newer "$output" "$@" || return 1
    done
}

# step NAME OUTPUTS -- INPUTS -- COMMAND...: run COMMAND (stdout to json/NAME.json, stderr to
# logs/NAME.log) unless its outputs are fresh. Stale outputs are removed first, so the command
# writes them anew. Exit codes 0 and 1 (no mark found) are results; anything else stops the demo.
step() {
    local name=$1 outputs=() inputs=() started rc=0
    shift
    while [[ $1 != -- ]]; do outputs+=("$1"); shift; done
    shift
    while [[ $1 != -- ]]; do inputs+=("$1"); shift; done
    shift
    # The step's record (empty for a step that prints nothing) must be newer than the inputs too.
    if fresh "${outputs[@]}" -- "${inputs[@]}" && newer "$JSON/$name.json" "${inputs[@]}"; then
        printf '  %-16s reused\n' "$name"
        printf '%s\treused\t0\n' "$name" >>"$STEPS"
        return
    fi
    rm -f "${outputs[@]}"
    printf '  %-16s ' "$name"
    started=$(date +%s%N)
    "$@" >"$JSON/$name.json" 2>"$LOGS/$name.log" || rc=$?
    local seconds
    seconds=$(((($(date +%s%N) - started) / 100000000)))
    seconds="$((seconds / 10)).$((seconds % 10))"
    if [[ $rc -gt 1 ]]; then
        echo "FAILED (exit $rc)"
        sed 's/^/    /' "$LOGS/$name.log" >&2
        echo "demo: FAILED - step $name exited with $rc (log: $LOGS/$name.log)" >&2
        exit 1
    fi
    echo "done in $seconds s"
    printf '%s\tnew\t%s\n' "$name" "$seconds" >>"$STEPS"
}

start=$(date +%s)
echo "aigc-mark demo: outputs in $OUT_DIR/, JSON records in $JSON/, messages in $LOGS/"

# 1. Photo: the visible label first, then the invisible watermark over the final pixels; the
# detector asked about the original and the marked copy; then the metadata label and a C2PA
# manifest signed with a throwaway test CA (made here, never committed); then verify, also on a
# copy re-encoded without its metadata (the watermark still says "AI-generated").
LABELED="$OUT_DIR/photo-dandelions-labeled.jpg"
MARKED="$OUT_DIR/photo-dandelions-marked.jpg"
SHIPPED="$OUT_DIR/photo-dandelions-shipped.jpg"
STRIPPED="$OUT_DIR/photo-stripped.jpg"
step photo-label "$LABELED" -- "$PHOTO" -- "$MARK" label "$PHOTO" -o "$LABELED" --json
step photo-embed "$MARKED" -- "$LABELED" -- \
    "$MARK" embed "$LABELED" -o "$MARKED" --payload "$PAYLOAD" --json
step photo-detect -- "$PHOTO" "$MARKED" -- "$MARK" detect "$PHOTO" "$MARKED" --json
if [[ -s $CA/chain.pem && -s $CA/signer.key && -s $CA/root.pem ]]; then
    printf '  %-16s reused\n' test-ca
    printf 'test-ca\treused\t0\n' >>"$STEPS"
else
    rm -rf "$CA"
    step test-ca "$CA/chain.pem" -- -- "$MARK" test-ca "$CA"
fi
step photo-tag "$SHIPPED" -- "$MARKED" "$CA/chain.pem" -- \
    "$MARK" tag "$MARKED" -o "$SHIPPED" --producer ExampleAI --produce-id demo-0001 \
    --c2pa-cert "$CA/chain.pem" --c2pa-key "$CA/signer.key" --watermark-payload "$PAYLOAD" --json
step photo-strip "$STRIPPED" -- "$SHIPPED" -- "$PY" -c "from PIL import Image
Image.open('$SHIPPED').save('$STRIPPED', quality=90)"
step photo-verify -- "$SHIPPED" "$STRIPPED" -- \
    "$MARK" verify "$SHIPPED" "$STRIPPED" --trust-anchors "$CA/root.pem" --json

# 2. Recording: the invisible watermark (FLAC stays 16 kHz mono FLAC), found again blindly; then
# the Morse "AI" cue (short-long, short-short) before the speech.
SPEECH_MARKED="$OUT_DIR/speech-marked.flac"
SPEECH_LABELED="$OUT_DIR/speech-labeled.flac"
step speech-embed "$SPEECH_MARKED" -- "$SPEECH" -- \
    "$MARK" embed "$SPEECH" -o "$SPEECH_MARKED" --payload "$PAYLOAD" --json
step speech-detect -- "$SPEECH" "$SPEECH_MARKED" -- \
    "$MARK" detect "$SPEECH" "$SPEECH_MARKED" --json
step speech-label "$SPEECH_LABELED" -- "$SPEECH" -- \
    "$MARK" label "$SPEECH" -o "$SPEECH_LABELED" --json

# 3. Video: the label on the first 2 seconds (sound copied); then the label and the invisible
# watermark in one transcode, the sound track carrying the audio watermark with the same payload.
CLIP_LABELED="$OUT_DIR/video-labeled.mp4"
CLIP_MARKED="$OUT_DIR/video-marked.mp4"
step video-label "$CLIP_LABELED" -- "$CLIP" -- "$MARK" label "$CLIP" -o "$CLIP_LABELED" --json
step video-embed "$CLIP_MARKED" -- "$CLIP" -- \
    "$MARK" embed "$CLIP" -o "$CLIP_MARKED" --payload "$PAYLOAD" --label --json
step video-detect -- "$CLIP" "$CLIP_MARKED" -- "$MARK" detect "$CLIP" "$CLIP_MARKED" --json
# The fast profile, held to the size of a plain re-encode with the same settings.
CLIP_SAME_SIZE="$OUT_DIR/video-fast-same-size.mp4"
step video-same-size "$CLIP_SAME_SIZE" -- "$CLIP" -- \
    "$MARK" embed "$CLIP" -o "$CLIP_SAME_SIZE" --payload "$PAYLOAD" --profile fast \
    --match-size --copy-audio --json
step video-same-size-detect -- "$CLIP_SAME_SIZE" -- \
    "$MARK" detect "$CLIP_SAME_SIZE" --no-audio --json

# 4. The whole marking of every sample in one parallel batch (label or cue, watermark, GB 45438
# metadata, signed C2PA); then verify the whole batch. `mark` resumes by itself: an output that
# exists and carries the mark is skipped. Its report is kept when every output it names is
# newer than its input, so a second run does not even start the batch.
SAMPLES=(samples/photo-* samples/*.flac samples/*.mp4)
batch_is_fresh() {
    [[ -s $OUT_DIR/batch.jsonl ]] || return 1
    "$PY" - "$OUT_DIR/batch.jsonl" "${#SAMPLES[@]}" <<'CHECK'
import json, os, sys
records = [json.loads(line) for line in open(sys.argv[1])]
def fresh(r):
    out = r.get("output")
    return (r["status"] in ("marked", "skipped") and out and os.path.isfile(out)
            and os.path.getmtime(out) > os.path.getmtime(r["input"]))
sys.exit(0 if len(records) == int(sys.argv[2]) and all(map(fresh, records)) else 1)
CHECK
}
if batch_is_fresh && [[ $OUT_DIR/batch.jsonl -nt $CA/chain.pem ]]; then
    printf '  %-16s reused\n' batch-mark
    printf 'batch-mark\treused\t0\n' >>"$STEPS"
else
    rm -f "$JSON/batch-mark.json"
    step batch-mark -- -- "$MARK" mark "${SAMPLES[@]}" -o "$BATCH" --producer ExampleAI \
        --no-progress --c2pa-cert "$CA/chain.pem" --c2pa-key "$CA/signer.key" \
        --report "$OUT_DIR/batch.jsonl"
fi
step batch-verify "$OUT_DIR/batch-verify.jsonl" -- "$OUT_DIR/batch.jsonl" -- \
    "$MARK" verify "$BATCH" --trust-anchors "$CA/root.pem" --no-progress \
    --report "$OUT_DIR/batch-verify.jsonl"

# 5. The public detection tool: `aigc-mark serve` on a free local port, asked through its HTTP
# API about the shipped photo, the copy stripped of its metadata and the unmarked original, as a
# browser or another service would; the server is stopped afterwards.
step serve-verify -- "$SHIPPED" "$STRIPPED" "$PHOTO" -- \
    "$PY" samples/serve_demo.py "$MARK" "$CA/root.pem" "$SHIPPED" "$STRIPPED" "$PHOTO"

# The summary, and the checks: the demo fails if any of them does not hold.
"$PY" - "$OUT_DIR" "$PAYLOAD" "$(($(date +%s) - start))" <<'SUMMARY'
import json, sys
from pathlib import Path

out, payload, elapsed = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
runs = dict(line.split("\t")[:2] for line in (out / "steps.tsv").read_text().splitlines())
failures: list[str] = []


def records(name: str) -> list[dict]:
    path = name if name.endswith(".jsonl") else f"json/{name}.json"
    text = (out / path).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def name_of(record: dict) -> str:
    """The file a detection or verification record is about (``file`` or ``input``)."""
    return Path(record.get("file") or record.get("input") or "?").name


def expect(ok: bool, what: str) -> None:
    if not ok:
        failures.append(what)


def found(record: dict) -> str:
    if not record.get("detected"):
        return "no mark"
    if record.get("found_in"):
        return "found in " + " and ".join(record["found_in"])
    if record.get("offset") is not None:
        return f"found, starting at {record['offset']:.2f} s"
    return f"found, false alarm {record['false_alarm']:.0e}"


def verdict(record: dict) -> str:
    if not record.get("ai_marked"):
        return "no AI mark"
    c2pa = (record.get("c2pa") or {}).get("state")
    trusted = " (trusted)" if record.get("trusted_signer") else ""
    return record["agreement"] + (f", C2PA {c2pa}{trusted}" if c2pa else "")


rows: list[tuple[str, ...]] = []
label = records("photo-label")[0]
photo, marked = records("photo-detect")
shipped, stripped = records("photo-verify")
rows += [
    (name_of(photo), "image", "(original)", "-", found(photo), runs["photo-detect"]),
    (Path(label["output"]).name, "image", "visible label", "-", "-", runs["photo-label"]),
    (name_of(marked), "image", "+ watermark", marked["payload"] or "-", found(marked),
     runs["photo-embed"]),
    (name_of(shipped), "image", "+ metadata, C2PA",
     (shipped.get("watermark") or {}).get("payload") or "-", verdict(shipped),
     runs["photo-verify"]),
    (name_of(stripped), "image", "metadata stripped",
     (stripped.get("watermark") or {}).get("payload") or "-", verdict(stripped),
     runs["photo-verify"]),
]
expect(not photo["detected"], f"a watermark was reported in the unmarked {name_of(photo)}")
expect(marked["detected"] and marked["payload"] == payload, f"payload not found in {name_of(marked)}")
expect(shipped.get("ai_marked") and shipped["agreement"] == "agree"
       and (shipped.get("c2pa") or {}).get("state") == "valid",
       f"{name_of(shipped)} does not verify (agree, C2PA valid)")
expect(stripped.get("ai_marked"), f"the watermark was not found in {name_of(stripped)}")

for kind, name in (("audio", "speech"), ("video", "video")):
    original, marked = records(f"{name}-detect")
    labeled = records(f"{name}-label")[0]
    applied = "label + watermark" if kind == "video" else "watermark"
    rows += [
        (name_of(original), kind, "(original)", "-", found(original),
         runs[f"{name}-detect"]),
        (Path(labeled["output"]).name, kind, "visible label" if kind == "video" else "Morse cue",
         "-", "-", runs[f"{name}-label"]),
        (name_of(marked), kind, applied, marked["payload"] or "-", found(marked),
         runs[f"{name}-embed"]),
    ]
    expect(not original["detected"], f"a watermark was reported in the unmarked {name_of(original)}")
    expect(marked["detected"] and marked["payload"] == payload,
           f"payload {payload} not found in {name_of(marked)}")
    if kind == "video":
        expect(marked.get("found_in") == ["video", "audio"],
               f"the video mark was found only in {marked.get('found_in')}")

same_size = records("video-same-size")[0]
(same_size_found,) = records("video-same-size-detect")
ratio = same_size["match_size"]["ratio"]
rows.append((name_of(same_size_found), "video", f"watermark, fast, {ratio:.2f}x plain bytes",
             same_size_found["payload"] or "-", found(same_size_found), runs["video-same-size"]))
expect(0.95 <= ratio <= 1.05, f"the size-matched video is {ratio:.3f}x a plain re-encode")
expect(same_size_found["detected"] and same_size_found["payload"] == payload,
       f"payload {payload} not found in {name_of(same_size_found)}")

served = {record.get("input"): record for record in records("serve-verify")}
for path, want in ((shipped, True), (stripped, True), (photo, False)):
    answer = served.get(name_of(path), {})
    rows.append((name_of(path), "image", "served: HTTP API", (answer.get("watermark") or {})
                 .get("payload") or "-", verdict(answer) if answer else "no answer",
                 runs["serve-verify"]))
    expect(answer.get("ai_marked") is want and bool(answer.get("summary")),
           f"the server's answer about {name_of(path)} is wrong: {answer.get('error')}")

made = records("batch.jsonl")
checked = {name_of(r): r for r in records("batch-verify.jsonl")}
batch_rows: list[tuple[str, ...]] = []
for record in made:
    name = Path(record["output"] or record["input"]).name
    check = checked.get(name, {})
    reused = record["status"] == "skipped" or runs["batch-mark"] == "reused"
    short = {"watermark": "wm", "metadata": "meta"}
    applied = "+".join(short.get(step, step) for step in record["steps"]) or "(resumed)"
    batch_rows.append((name, record.get("modality") or record.get("kind") or "?", applied,
                       (check.get("watermark") or {}).get("payload") or "-",
                       verdict(check) if check else "not verified",
                       "reused" if reused else "new"))
    expect(record["status"] in ("marked", "skipped"), f"not marked: {record['input']}")
    expect(check.get("ai_marked") and check.get("agreement") == "agree"
           and (check.get("c2pa") or {}).get("state") == "valid",
           f"{name} in the batch does not verify (agree, C2PA valid)")
expect(len(checked) == len(made), "the batch's verification does not cover every file")

header = ("file", "kind", "applied", "payload", "detect / verify", "run")


def table(title: str, lines: list[tuple[str, ...]]) -> None:
    widths = [max(len(str(row[i])) for row in [header, *lines]) for i in range(len(header))]
    print(f"\n{title}")
    for row in [header, *lines]:
        cells = (str(cell).ljust(width) for cell, width in zip(row, widths))
        print(("  " + "  ".join(cells)).rstrip())


table(f"Single files (outputs in {out}/):", rows)
table(f"Batch: every sample marked in one run, then verified (outputs in {out}/batch/):",
      batch_rows)
print(f"\nReports: {out}/json/*.json (one per step), {out}/batch.jsonl and"
      f" {out}/batch-verify.jsonl;\n         messages in {out}/logs/; test CA in {out}/test-ca/")
reused = sum(1 for value in runs.values() if value == "reused")
if failures:
    for failure in failures:
        print(f"demo: FAILED - {failure}", file=sys.stderr)
    sys.exit(1)
print(f"demo: OK in {elapsed} s ({reused} of {len(runs)} steps reused from an earlier run);"
      "\n      every detection and verification came out as expected")
SUMMARY
