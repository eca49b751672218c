#!/usr/bin/python3
"""Writes a tiny Ogg Opus file that decodes to a long stretch of silence.

    tests/data/hostile/make_opus_bomb.py OUT.opus [SECONDS]   (default 600)

Every audio packet is a single TOC byte (SILK narrowband, 60 ms, code 0) with
an empty frame: what an Opus encoder sends during discontinuous transmission.
A decoder turns each into 60 ms of (concealed) silence, so 2 bytes of file
(packet + Ogg lacing) become 960 samples at 16 kHz: a decompression bomb of
about 1:2000 against float output. Standard library only; deterministic.
"""
import struct
import sys


def crc32_ogg(data):
    crc = 0
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else (crc << 1)
            crc &= 0xFFFFFFFF
    return crc


def page(packets, granule, seq, header_type):
    lacing = bytearray()
    for p in packets:
        n = len(p)
        while n >= 255:
            lacing.append(255)
            n -= 255
        lacing.append(n)
    assert len(lacing) <= 255
    head = struct.pack("<4sBBqIIIB", b"OggS", 0, header_type, granule, 0x5D5D5D5D, seq, 0,
                       len(lacing))
    body = bytes(lacing) + b"".join(packets)
    crc = crc32_ogg(head + body)
    return head[:22] + struct.pack("<I", crc) + head[26:] + body


def main():
    out = sys.argv[1]
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 600.0
    packets = int(seconds / 0.060)
    pre_skip = 312
    opus_head = b"OpusHead" + struct.pack("<BBHIhB", 1, 1, pre_skip, 16000, 0, 0)
    opus_tags = b"OpusTags" + struct.pack("<I", 6) + b"spoofd" + struct.pack("<I", 0)
    pages = [page([opus_head], 0, 0, 0x02), page([opus_tags], 0, 1, 0x00)]
    seq = 2
    granule = 0
    toc = bytes([(3 << 3) | 0])  # config 3: SILK NB 60 ms; code 0: one frame (empty)
    for start in range(0, packets, 250):
        n = min(250, packets - start)
        granule += n * 2880  # 60 ms at Opus's 48 kHz granule clock
        last = start + n >= packets
        pages.append(page([toc] * n, granule, seq, 0x04 if last else 0x00))
        seq += 1
    with open(out, "wb") as f:
        f.write(b"".join(pages))


if __name__ == "__main__":
    main()
