#!/usr/bin/env bash
# afm plot: the PNG it writes is valid (checked with Python's zlib and struct: signature, chunk
# CRCs, IHDR size, scanline count), shows the train and validation colours, and bad input
# (no losses, missing file) gives a clear error and no output file.
set -euo pipefail
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
python3 - "$T/run" <<'PY'
import json, math, os, sys
os.makedirs(sys.argv[1])
with open(os.path.join(sys.argv[1], "metrics.jsonl"), "w") as f:
    step = 0
    for stage, n in [("core", 120), ("continued", 30), ("context", 10)]:
        for _ in range(n):
            step += 1
            f.write(json.dumps({"split": "train", "step": step, "stage": stage, "loss": 4 * math.exp(-step / 40) + 2}) + "\n")
            if step % 20 == 0:
                f.write(json.dumps({"split": "val", "step": step, "loss": 4 * math.exp(-step / 40) + 2.2}) + "\n")
    f.write("{not json\n")
PY
"$AFM_BIN" plot "$T/run" -o "$T/loss.png" --width 640 --height 400 2> "$T/log.txt"
cat "$T/log.txt"
grep -q "160 train and 8 validation points, 3 stages, 1 unreadable" "$T/log.txt"
python3 - "$T/loss.png" <<'PY'
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "bad signature"
pos, chunks = 8, {}
while pos < len(data):
    n, = struct.unpack(">I", data[pos:pos + 4]); typ = data[pos + 4:pos + 8]; body = data[pos + 8:pos + 8 + n]
    crc, = struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])
    assert zlib.crc32(typ + body) == crc, f"bad CRC in {typ}"
    chunks.setdefault(typ, b""); chunks[typ] += body
    pos += 12 + n
w, h, depth, ctype = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
assert (w, h, depth, ctype) == (640, 400, 8, 2), (w, h, depth, ctype)
raw = zlib.decompress(chunks[b"IDAT"])
assert len(raw) == h * (1 + 3 * w)
px = set()
for y in range(h):
    row = raw[y * (1 + 3 * w):(y + 1) * (1 + 3 * w)]
    assert row[0] == 0
    px.update(row[1 + 3 * x:4 + 3 * x] for x in range(w))
assert bytes([31, 119, 180]) in px and bytes([214, 39, 40]) in px, "train/val colours missing"
print(f"ok: valid {w}x{h} PNG with train and validation curves")
PY
printf '{"split":"train"}\n' > "$T/bad.jsonl"
if "$AFM_BIN" plot "$T/bad.jsonl" -o "$T/bad.png" 2> "$T/err.txt"; then echo "FAIL: no losses must be an error"; exit 1; fi
grep -q "no training or validation losses" "$T/err.txt"
[ ! -e "$T/bad.png" ] || { echo "FAIL: output written on error"; exit 1; }
if "$AFM_BIN" plot "$T/missing" -o "$T/x.png" 2>/dev/null; then echo "FAIL: missing run accepted"; exit 1; fi
echo "ok: bad input refused"
