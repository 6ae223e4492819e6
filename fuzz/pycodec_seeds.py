"""Writes the seeds of fuzz_pycodec into DIR (make fuzz-corpus runs it).

Keys come from the codec itself (kiln._kiln.key_bytes); scalar values are
written from the value format at the top of python/codec.c. Each seed is
the target's pick byte (0 key, 1 value, 2 two values to add), then its
bytes.
"""
import struct
import sys

from kiln import _kiln


def value(v):
    if v is None:
        return b"\x01"
    if v is False or v is True:
        return b"\x03" if v else b"\x02"
    if isinstance(v, int):
        if -2**63 <= v < 2**63:
            return b"\x04" + struct.pack("<q", v)
        return b"\x08" + v.to_bytes(v.bit_length() // 8 + 1, "little", signed=True)
    if isinstance(v, float):
        return b"\x05" + struct.pack("<d", v)
    if isinstance(v, str):
        return b"\x06" + v.encode("utf-8", "surrogatepass")
    return b"\x07" + bytes(v)


def main(out):
    keys = [None, 0, 1, -1, 3, 0.5, -2.5, 2**100, -2**70, 1e-300, float("inf"), float("-inf"),
            "", "word", "a\x00b", "\ud800", b"", b"\x00\xff", (), (1, "a"), ((None,), (2.0, b"x"))]
    values = [None, False, True, 0, -7, 2**63 - 1, 2**63, -2**80, 1.5, float("nan"), -0.0, "", "héllo", b"\x00\x01"]
    adds = [(1, 2), (2**62, 2**62), (1, 0.5), (0.25, -3.0), (-2**63, -1)]
    seeds = {}
    for i, k in enumerate(keys):
        seeds["key-%02d" % i] = b"\x00" + _kiln.key_bytes(k)
    for i, v in enumerate(values):
        seeds["value-%02d" % i] = b"\x01" + value(v)
    for i, (a, b) in enumerate(adds):
        ea = value(a)
        seeds["add-%02d" % i] = b"\x02" + bytes([len(ea)]) + ea + value(b)
    for name, data in seeds.items():
        with open("%s/%s" % (out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main(sys.argv[1])
