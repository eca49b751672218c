#!/usr/bin/env python3
"""Checks of models/corpus/extract_games.py and rnc.py that can fail: the queen.1c
resource table and the sky.dnr index are read from constructed files (speech
entries only, offsets and sizes as written, the scaled offsets of sky.dnr, a wrong
header refused), speech file names map to the right scene and speaker, the split
keeps every line of a scene together and the player character in train, the RNC
CRC matches the CRC-16/ARC check value, malformed RNC data is refused, and, where
beneath-a-steel-sky is installed, its first speech files unpack with both CRCs
matching. Exit 0 when every check holds, 1 otherwise; 77 (skipped)
where the corpus scripts' Python packages (numpy, scipy) are missing."""
import pathlib
import struct
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "models" / "corpus"))
sys.path.insert(0, str(ROOT / "tests"))
from pychecks import check, finish, skip_without  # noqa: E402

E = skip_without("extract_games")  # CI installs only the runtime, not the corpus tools


def table(entries, magic=b"QTBL", compression=1):
    head = magic + b"CEM10" + b"\0\0\0" + bytes([compression]) + struct.pack(">H", len(entries))
    body = b"".join(name.encode().ljust(12, b"\0") + b"\1" + struct.pack(">II", off, size)
                    for name, off, size in entries)
    return head + body


with tempfile.TemporaryDirectory() as d:
    path = pathlib.Path(d) / "queen.1c"
    path.write_bytes(table([("020006J1.SB", 500, 7001), ("ROOM1.PCX", 900, 10),
                            ("C100A032.SB", 1000, 4284)]))
    got = E.read_table(str(path))
    check(got == [("020006J1", 500, 7001), ("C100A032", 1000, 4284)],
          f"resource table: speech entries with their offsets and sizes ({got})")
    path.write_bytes(table([("020006J1.SB", 500, 7001)], magic=b"XTBL"))
    try:
        E.read_table(str(path))
        check(False, "a file without the QTBL header is refused")
    except E.C.ToolError:
        check(True, "a file without the QTBL header is refused")
    path.write_bytes(table([("020006J1.SB", 500, 7001)], compression=0))
    try:
        E.read_table(str(path))
        check(False, "an uncompressed (non-MP3) table is refused")
    except E.C.ToolError:
        check(True, "an uncompressed (non-MP3) table is refused")

check(E.scene_and_speaker("020006J1") == ("dlg02", "joe"), "dialogue line of Joe")
check(E.scene_and_speaker("0200A4P1") == ("dlg02", "dlg02_p"), "dialogue line of the other person")
check(E.scene_and_speaker("JOE07081") == ("joe", "joe"), "Joe's monologue")
check(E.scene_and_speaker("C100A032")[0] == E.scene_and_speaker("C100A061")[0] == "scnC100A",
      "lines of one cutscene share a scene")
check(E.scene_and_speaker("C19A_221")[0] != E.scene_and_speaker("C100A032")[0],
      "different cutscenes are different scenes")

check(all(E.split_of("dlg%02d" % i, "joe") == "train" for i in range(40)), "Joe is always in train")
splits = [E.split_of(f"scn{i}", f"scn{i}") for i in range(2000)]
share = {s: splits.count(s) / len(splits) for s in ("train", "dev", "eval")}
check(abs(share["train"] - 0.70) < 0.04 and abs(share["dev"] - 0.15) < 0.03
      and abs(share["eval"] - 0.15) < 0.03, f"scene splits near 70/15/15 ({share})")
check(E.split_of("scn7", "scn7") == E.split_of("scn7", "scn7"), "the split of a scene is stable")
import rnc  # noqa: E402

check(rnc.crc16(b"123456789") == 0xBB3D, "CRC-16/ARC check value of '123456789' is 0xBB3D")
for bad, what in ((b"XYZ\x01" + bytes(20), "data without the RNC header"),
                  (b"RNC\x01" + struct.pack(">IIHH", 4, 4, 0, 1) + b"\0\1" + b"abcd", "a wrong packed CRC")):
    try:
        rnc.unpack(bad)
        check(False, f"rnc refuses {what}")
    except ValueError:
        check(True, f"rnc refuses {what}")

with tempfile.TemporaryDirectory() as d:
    dnr = pathlib.Path(d) / "sky.dnr"
    entries = [(60110, 768, 0x400977), (50102, 0x800000 | 0x100, 0x400010), (50103, 5000, 0x000020)]
    dnr.write_bytes(struct.pack("<I", len(entries)) + b"".join(
        struct.pack("<H", n) + o.to_bytes(3, "little") + z.to_bytes(3, "little") for n, o, z in entries))
    got = E.read_sky_index(str(dnr))
    check(got == [(50102, 0x1000, 0x10, 1), (50103, 5000, 0x20, 0)],
          f"sky index: speech files only, a flagged offset times 16, size and flags apart ({got})")

if pathlib.Path(E.SKY + ".dnr").exists():
    lines = E.read_sky_index(E.SKY + ".dnr")[:5]
    ok = True
    for num, off, size, _ in lines:
        try:
            x = E.read_sky_line(off, size)
            ok = ok and len(x) > 0 and abs(float(x.mean())) < 0.05
        except E.C.ToolError as e:
            print(e)
            ok = False
    check(ok and len(lines) == 5, "the first Beneath a Steel Sky speech files unpack (both CRCs) to centred PCM")
else:
    print("note: beneath-a-steel-sky not installed, its unpacking check not run")
finish()
