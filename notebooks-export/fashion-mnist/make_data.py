"""Writes the first 10 000 Fashion-MNIST training images as a 10 000 × 784 float32 .npy in [0, 1].

Usage: python make_data.py [IDX_GZ] [OUT]  (defaults: Debian's dataset-fashion-mnist package,
fmnist10k.npy). Standard library only, so it runs before numpy is installed.
"""
import gzip
import struct
import sys

SOURCE = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"
ROWS, PIXELS = 10_000, 28 * 28


def main():
    source = sys.argv[1] if len(sys.argv) > 1 else SOURCE
    out = sys.argv[2] if len(sys.argv) > 2 else "fmnist10k.npy"
    raw = gzip.open(source).read()
    magic, count, height, width = struct.unpack(">IIII", raw[:16])
    if magic != 2051 or height * width != PIXELS or count < ROWS:
        sys.exit(f"{source}: not an IDX image file of 28×28 images with at least {ROWS} of them")
    pixels = raw[16:16 + ROWS * PIXELS]
    # .npy version 1.0: magic, header length, a dict padded so the data start on 64 bytes
    header = f"{{'descr': '<f4', 'fortran_order': False, 'shape': ({ROWS}, {PIXELS}), }}"
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    body = struct.pack(f"<{ROWS * PIXELS}f", *(p / 255.0 for p in pixels))
    with open(out, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + body)
    print(f"{out}: {ROWS} × {PIXELS} float32 in [0, 1]")


if __name__ == "__main__":
    main()
