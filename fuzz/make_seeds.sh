#!/usr/bin/env bash
# Writes the seed inputs of every fuzz target into fuzz/seeds/TARGET/ from the test fixtures,
# the shipped datasets and tiny models trained here (seconds). The committed corpora in
# fuzz/corpus/ were grown from these seeds by fuzz/run.sh and minimised with -merge=1.
#
# Usage: fuzz/make_seeds.sh   (from anywhere; needs python3 and a built `scoregeo` binary,
#                             taken from $SCOREGEO or built with cargo build --release)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$root/fuzz/seeds"
bin="${SCOREGEO:-$root/target/release/scoregeo}"
[ -x "$bin" ] || cargo build --release --manifest-path "$root/Cargo.toml"
fixtures="$root/tests/fixtures/pytorch"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
rm -rf "$out"
mkdir -p "$out"/{csv,npy,native_model,zip,pickle,pytorch,manifest,train_checkpoint,flow}

# csv: heads of the shipped datasets and fixtures, and the dialects the reader accepts
for f in "$root"/datasets/*.csv "$fixtures"/patch8d.csv; do
  head -c 600 "$f" | head -n 6 > "$out/csv/$(basename "$f")"
done
printf '1 2  3\n4\t5 6\n' > "$out/csv/whitespace.csv"
printf '# comment\n\n"x";"y"\n1.5;-2e-3\n3;4\n' > "$out/csv/semicolon.csv"
printf 'a\tb\n1\t2\n' > "$out/csv/tab.csv"
printf '1,2\n3,inf\n' > "$out/csv/nonfinite.csv"

# npy, pickle and zip seeds written by python3 (no numpy needed)
python3 - "$out" "$fixtures" <<'EOF'
import struct, sys, zipfile, pathlib
out, fixtures = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
def npy(name, descr, fortran, shape, values, version=1):
    fmt = {"<f8": "<d", ">f8": ">d", "<f4": "<f", ">f4": ">f"}[descr]
    header = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (
        descr, "True" if fortran else "False", shape)
    header += " " * ((64 - (len(header) + 11 + 2 * (version > 1)) % 64) % 64) + "\n"
    head = b"\x93NUMPY" + bytes([version, 0])
    head += struct.pack("<H" if version == 1 else "<I", len(header))
    body = b"".join(struct.pack(fmt, v) for v in values)
    (out / "npy" / name).write_bytes(head + header.encode() + body)
npy("f8_c.npy", "<f8", False, "(2, 3)", [0.1, 2, -1, 3, 4.5, 1e10])
npy("f4_fortran.npy", "<f4", True, "(2, 3)", [1, 4, 2, 5, 3, 6])
npy("f8_big_endian_v2.npy", ">f8", False, "(3, 1)", [1, 2, 3], version=2)
npy("f4_big_endian_v3.npy", ">f4", False, "(1, 2)", [1, 2], version=3)
for f in sorted(fixtures.glob("*.pt*")) + sorted(fixtures.glob("*.ckpt")):
    (out / "zip" / f.name).write_bytes(f.read_bytes())
    with zipfile.ZipFile(f) as z:
        pkl = [n for n in z.namelist() if n.endswith("/data.pkl")]
        if pkl:
            program = z.read(pkl[0])
            (out / "pickle" / (f.stem + ".pkl")).write_bytes(program)
            (out / "pytorch" / (f.stem + ".pkl")).write_bytes(program)
EOF

# models, checkpoints and flows trained for a few steps on tiny data
python3 - "$work/parabola.csv" <<'EOF'
import sys
# the rows of scoregeo::fuzzing::checkpoint_data(), printed exactly
with open(sys.argv[1], "w") as f:
    f.write("x,y\n")
    for i in range(24):
        x = (i - 12) / 8
        f.write(f"{x!r},{x * x!r}\n")
EOF
q=(--quiet)
"$bin" "${q[@]}" train "$work/parabola.csv" -o "$out/train_checkpoint/resumable.safetensors" \
  --steps 3 --hidden 4 --depth 1 --batch 8
"$bin" "${q[@]}" train "$work/parabola.csv" -o "$out/train_checkpoint/slim.safetensors" \
  --steps 2 --hidden 4 --depth 2 --batch 8 --sde vp --slim
cp "$out/train_checkpoint/slim.safetensors" "$out/native_model/slim.safetensors"
"$bin" "${q[@]}" convert "$fixtures/unet_state_dict.pth" -o "$out/native_model/skip.safetensors"
# the same weights with the config beside the file instead of in the metadata
python3 - "$out/native_model/slim.safetensors" "$out/native_model/sidecar.safetensors" <<'EOF'
import json, struct, sys
raw = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + n])
config = header.pop("__metadata__")["scoregeo_config"]
text = json.dumps(header).encode()
text += b" " * (-len(text) % 8)
body = struct.pack("<Q", len(text)) + text + raw[8 + n:]
open(sys.argv[2], "wb").write(body + b"\n--sidecar json--\n" + config.encode())
EOF
"$bin" "${q[@]}" train-flow "$work/parabola.csv" -o "$out/flow/flow.safetensors" \
  --steps 2 --hidden 4 --layers 2 --batch 8

# manifests: the shipped ones and one with a true ID per point
cp "$root"/datasets/*.manifest.json "$out/manifest/"
"$bin" "${q[@]}" generate lollipop -o "$work/lollipop.csv" --n 12
cp "$work/lollipop.csv.manifest.json" "$out/manifest/lollipop.manifest.json"
echo "seeds written to $out:"
for d in "$out"/*/; do echo "  $(basename "$d"): $(ls "$d" | wc -l) files, $(du -sh "$d" | cut -f1)"; done
