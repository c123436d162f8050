#!/usr/bin/env python3
"""NumPy's half of the .npy round trip (tests/test-npy-numpy.c runs it).

    npy-numpy.py check DIR   load every .npy file in DIR (written by jp_dump)
                             with np.load, plain and mmap_mode='r', and check
                             dtype, shape, order, alignment and values
    npy-numpy.py save DIR    write the cases below with NumPy (versions 1.0,
                             2.0, 3.0 and np.save's own choice, both byte
                             orders, C and Fortran order) for jp_load to check

A file's name says what it holds: BYTEORDER-DTYPE_ORDER_SHAPE_vVERSION.npy,
e.g. be-f8_F_3x4_v2.npy; BYTEORDER is le, be or na ('|'), SHAPE is s for a
0-d array, VERSION 0 means np.save chose. Element k of the array, in C order
of its indices, holds the value of value() below; the C side computes the
same.
"""
import os
import sys

import numpy as np
from numpy.lib import format as npformat

ORDERS = {"le": "<", "be": ">", "na": "|"}

CASES = [
    ("na-b1", "C", (3, 4), 1),
    ("na-i1", "C", (3, 4), 1),
    ("le-i2", "C", (5,), 1),
    ("le-i4", "F", (4, 3, 2), 1),
    ("le-i8", "C", (2, 3), 2),
    ("na-u1", "C", (7,), 3),
    ("le-u2", "C", (3, 4), 1),
    ("le-u4", "C", (3, 4), 2),
    ("le-u8", "F", (3, 4), 3),
    ("le-f4", "C", (3, 4), 1),
    ("le-f8", "C", (3, 4), 0),
    ("le-f8", "F", (3, 4), 2),
    ("le-f8", "C", (), 1),
    ("le-f8", "C", (0, 3), 1),
    ("le-c8", "C", (2, 2), 1),
    ("le-c16", "F", (2, 3, 4), 3),
    ("na-b1", "F", (2, 5), 0),
    ("be-f8", "C", (3, 4), 1),
    ("be-f8", "F", (3, 4), 1),
    ("be-f4", "C", (6,), 0),
    ("be-i4", "C", (5,), 2),
    ("be-i8", "C", (2, 2), 1),
    ("be-u2", "C", (4,), 1),
    ("be-c8", "F", (2, 3), 1),
    ("be-c16", "C", (2, 3), 3),
]


def value(tok, shape):
    """The logical array of a case, in native byte order."""
    n = int(np.prod(shape, dtype=np.int64))
    k = np.arange(n, dtype=np.int64)
    kind = tok[0]
    if kind == "b":
        v = k % 3 == 0
    elif kind == "i":
        v = (k * 37) % 251 - 125
    elif kind == "u":
        v = (k * 37) % 251
    elif kind == "f":
        v = k * 0.25 - 7.5
    else:
        v = (k * 0.25 - 7.5) + 1j * (k * 0.5 + 1)
    return v.astype(np.dtype(tok)).reshape(shape)


def parse_name(name):
    descr, order, shape, ver = name[: -len(".npy")].split("_")
    bo, tok = descr.split("-")
    dims = () if shape == "s" else tuple(int(x) for x in shape.split("x"))
    return bo, tok, order, dims, int(ver[1:])


def check(d):
    names = sorted(f for f in os.listdir(d) if f.endswith(".npy"))
    if not names:
        sys.exit("check: no .npy file in %s" % d)
    bad = 0
    for name in names:
        path = os.path.join(d, name)
        bo, tok, order, shape, _ = parse_name(name)
        want = value(tok, shape)
        with open(path, "rb") as f:
            version = npformat.read_magic(f)
            if version != (1, 0):
                print("%s: version %r, want (1, 0)" % (name, version))
                bad += 1
            hshape, fortran, dtype = npformat.read_array_header_1_0(f)
            if f.tell() % 64:
                print("%s: data at offset %d, not a multiple of 64" % (name, f.tell()))
                bad += 1
            if fortran != (order == "F"):
                print("%s: fortran_order %r" % (name, fortran))
                bad += 1
        for mode in (None, "r"):
            a = np.load(path, mmap_mode=mode)
            problems = []
            if a.dtype != np.dtype(tok):
                problems.append("dtype %s" % a.dtype.str)
            if a.shape != shape:
                problems.append("shape %r" % (a.shape,))
            if order == "F" and len(shape) > 1 and not a.flags.f_contiguous:
                problems.append("not Fortran-contiguous")
            if a.shape == shape and not np.array_equal(np.asarray(a), want):
                problems.append("values differ: %r, want %r" % (np.asarray(a).ravel()[:6], want.ravel()[:6]))
            if problems:
                print("%s (mmap_mode=%r): %s" % (name, mode, "; ".join(problems)))
                bad += 1
            del a
    print("numpy checked %d file(s) written by jp_dump, %d problem(s)" % (len(names), bad))
    sys.exit(1 if bad else 0)


def save(d):
    for descr, order, shape, ver in CASES:
        bo, tok = descr.split("-")
        a = value(tok, shape).astype(np.dtype(ORDERS[bo] + tok))
        if order == "F":
            a = np.asfortranarray(a)
        name = "%s_%s_%s_v%d.npy" % (
            descr, order, "x".join(str(x) for x in shape) if shape else "s", ver)
        path = os.path.join(d, name)
        if ver == 0:
            np.save(path, a)
        else:
            with open(path, "wb") as f:
                npformat.write_array(f, a, version=(ver, 0))
    print("numpy wrote %d file(s)" % len(CASES))


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("check", "save"):
        sys.exit("usage: npy-numpy.py check|save DIR")
    (check if sys.argv[1] == "check" else save)(sys.argv[2])
