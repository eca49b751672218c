"""Unpacker for RNC ProPack method 1, the compression of Beneath a Steel Sky's data
file (sky.dsk), written from the format as the ScummVM engine reads it.

Layout: "RNC\\x01", unpacked and packed length (big-endian 32 bit), CRC-16 of the
unpacked and of the packed data (big-endian), one spare byte, the block count, then
the packed stream. The stream is read as 16-bit little-endian words, lowest bit
first; two bits are skipped at the start. Each block has three Huffman tables
(literal run lengths, match distances, match lengths: a 5-bit count, then a 4-bit
code length per symbol, canonical codes stored bit-reversed), a 16-bit count of
steps, and then steps of: a literal run (bytes copied as they are from the next
unread word onwards, after which bit reading continues behind them) and, except
for the last step, a match (distance + 1, length + 2) copied from the output so far.
A symbol s >= 2 means the value (1 << (s - 1)) | next (s - 1) bits.
"""
import struct


def _crc_table():
    table = []
    for b in range(256):
        c = b
        for _ in range(8):
            c = (c >> 1) ^ 0xA001 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC = _crc_table()


def crc16(data):
    """CRC-16/ARC (polynomial 0xA001 reflected, initial 0), as RNC stores it."""
    c = 0
    for b in data:
        c = _CRC[(c ^ b) & 0xFF] ^ (c >> 8)
    return c


class _Bits:
    """Bits lowest first from 16-bit little-endian words. `pos` is the next word not
    yet taken into `cur`, which is where a literal run starts."""

    def __init__(self, buf, pos):
        self.buf, self.pos, self.cur, self.n = buf, pos, 0, 0

    def _word(self, p):
        return int.from_bytes(self.buf[p:p + 2].ljust(2, b"\0"), "little")

    def peek16(self):
        v, n, p = self.cur, self.n, self.pos
        while n < 16:
            v |= self._word(p) << n
            p += 2
            n += 16
        return v & 0xFFFF

    def read(self, k):
        while self.n < k:
            self.cur |= self._word(self.pos) << self.n
            self.pos += 2
            self.n += 16
        v = self.cur & ((1 << k) - 1)
        self.cur >>= k
        self.n -= k
        return v

    def literal(self, k):
        if self.pos + k > len(self.buf):
            raise ValueError("rnc: literal run past the end of the data")
        b = self.buf[self.pos:self.pos + k]
        self.pos += k
        return b


def _huffman(bits):
    lengths = [bits.read(4) for _ in range(bits.read(5))]
    codes, next_code = [], 0
    for length in range(1, 17):
        for symbol, l in enumerate(lengths):
            if l == length:
                c = next_code >> (16 - length)
                reversed_code = int(format(c, f"0{length}b")[::-1], 2)
                codes.append(((1 << length) - 1, reversed_code, length, symbol))
                next_code += 1 << (16 - length)
    return codes


def _value(bits, codes):
    v = bits.peek16()
    for mask, code, length, symbol in codes:
        if v & mask == code:
            bits.read(length)
            return bits.read(symbol - 1) | (1 << (symbol - 1)) if symbol >= 2 else symbol
    raise ValueError("rnc: no Huffman code matches the stream")


def unpack(data):
    """The unpacked bytes of one RNC method-1 block; ValueError on anything malformed
    or when either CRC does not match."""
    if len(data) < 18 or data[:4] != b"RNC\x01":
        raise ValueError("rnc: not RNC method-1 data")
    unpacked_len, packed_len, unpacked_crc, packed_crc = struct.unpack(">IIHH", data[4:16])
    if crc16(data[18:18 + packed_len]) != packed_crc:
        raise ValueError("rnc: CRC of the packed data does not match")
    bits = _Bits(bytes(data[:18 + packed_len]), 18)
    bits.read(2)
    out = bytearray()
    for _ in range(data[17]):
        literals, distances, lengths = _huffman(bits), _huffman(bits), _huffman(bits)
        steps = bits.read(16)
        while steps:
            run = _value(bits, literals)
            if run:
                out += bits.literal(run)
            if steps > 1:
                distance = _value(bits, distances) + 1
                n = _value(bits, lengths) + 2
                if distance > len(out):
                    raise ValueError("rnc: match reaches before the start of the output")
                for _ in range(n):
                    out.append(out[-distance])
            steps -= 1
    out = bytes(out[:unpacked_len])
    if len(out) != unpacked_len or crc16(out) != unpacked_crc:
        raise ValueError("rnc: CRC of the unpacked data does not match")
    return out
