"""Malformed safetensors files, each with the error gpumem must give
(cases.tsv).    python3 tests/bad_safetensors/make_corpus.py"""
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
cases = []


def st(header, data=b"", hlen=None):
    h = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(h) if hlen is None else hlen) + h + data


def case(name, blob, status, msg):
    with open(os.path.join(HERE, name + ".safetensors"), "wb") as f:
        f.write(blob)
    cases.append((name + ".safetensors", status, msg))


T = {"dtype": "F16", "shape": [4, 4], "data_offsets": [0, 32]}
case("empty", b"", "GPUMEM_ERR_PARSE", "needs the 8-byte header length")
case("short_length", b"\x10\x00\x00", "GPUMEM_ERR_PARSE", "needs the 8-byte header length")
case("header_longer_than_file", st({"a": T}, hlen=1 << 20), "GPUMEM_ERR_PARSE",
     "exceeds the file")
case("header_length_huge", st({"a": T}, hlen=1 << 62), "GPUMEM_ERR_PARSE", "exceeds the file")
case("json_truncated", st(b'{"a": {"dtype": "F16", "shape": [4'), "GPUMEM_ERR_PARSE",
     "malformed safetensors header JSON")
case("json_not_object", st(b"[1, 2]"), "GPUMEM_ERR_PARSE", "must be a JSON object")
case("duplicate_tensor", st(b'{"a": {"dtype":"F16","shape":[1],"data_offsets":[0,2]},'
                            b' "a": {"dtype":"F16","shape":[1],"data_offsets":[2,4]}}', b"\0" * 4),
     "GPUMEM_ERR_PARSE", "duplicate")
case("unknown_dtype", st({"a": dict(T, dtype="F12")}, b"\0" * 32), "GPUMEM_ERR_UNSUPPORTED",
     "unknown dtype 'F12'")
case("missing_offsets", st({"a": {"dtype": "F16", "shape": [4]}}), "GPUMEM_ERR_PARSE",
     "needs \"dtype\", \"shape\" and two \"data_offsets\"")
case("negative_dim", st({"a": dict(T, shape=[-4, 4])}, b"\0" * 32), "GPUMEM_ERR_PARSE",
     "dimension 0 is not a size")
case("size_mismatch", st({"a": dict(T, data_offsets=[0, 30])}, b"\0" * 32), "GPUMEM_ERR_PARSE",
     "spans 30 bytes, its shape and dtype need 32")
case("offsets_reversed", st({"a": dict(T, data_offsets=[32, 0])}, b"\0" * 32), "GPUMEM_ERR_PARSE",
     "invalid data_offsets")
case("data_truncated", st({"a": T}, b"\0" * 16), "GPUMEM_ERR_PARSE", "past the file's 16")
case("overlap", st({"a": T, "b": dict(T, data_offsets=[16, 48])}, b"\0" * 48), "GPUMEM_ERR_PARSE",
     "overlap")
case("elements_overflow", st({"a": dict(T, shape=[1 << 40, 1 << 40])}, b"\0" * 32),
     "GPUMEM_ERR_PARSE", "overflows")

with open(os.path.join(HERE, "cases.tsv"), "w") as f:
    f.write("# file\texpected status\texpected message substring\n")
    for c in cases:
        f.write("\t".join(c) + "\n")
print(len(cases), "cases")
