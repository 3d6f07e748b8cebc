"""Keeps, for each GGUF the llama.cpp runs used, only its header without
the tokenizer arrays (the metadata llama.cpp sizes nothing from), so the
measured cases can be re-estimated by `gpumem validate` without the
multi-GB files. Writes headers/<name>.gguf-header and headers/index.tsv
with the size the file would have with this header (header + tensor data).

    python3 validation/llamacpp/strip_headers.py /tmp/gpumem-gguf/*.gguf
"""
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
DROP = ("tokenizer.ggml.tokens", "tokenizer.ggml.token_type", "tokenizer.ggml.merges",
        "tokenizer.ggml.scores")


class Reader:
    def __init__(self, f):
        self.f = f

    def take(self, n):
        b = self.f.read(n)
        assert len(b) == n, "truncated"
        return b

    def u32(self):
        return struct.unpack("<I", self.take(4))[0]

    def u64(self):
        return struct.unpack("<Q", self.take(8))[0]

    def string(self):
        n = self.u64()
        return struct.pack("<Q", n) + self.take(n)

    def value(self, t):
        if t == 8:
            return self.string()
        if t == 9:
            et = self.u32()
            n = self.u64()
            out = struct.pack("<IQ", et, n)
            for _ in range(n):
                out += self.value(et)
            return out
        return self.take(SIZES[t])


def strip(path):
    with open(path, "rb") as f:
        r = Reader(f)
        magic, version = r.take(4), r.u32()
        n_t, n_kv = r.u64(), r.u64()
        kvs, align = [], 32
        for _ in range(n_kv):
            key = r.string()
            t = r.u32()
            val = r.value(t)
            name = key[8:].decode()
            if name == "general.alignment":
                align = struct.unpack("<I", val)[0]
            if name not in DROP:
                kvs.append(key + struct.pack("<I", t) + val)
        tinfo = b""
        for _ in range(n_t):
            name = r.string()
            nd = r.u32()
            dims = r.take(8 * nd)
            tinfo += name + struct.pack("<I", nd) + dims + r.take(4 + 8)
        data_offset = (f.tell() + align - 1) // align * align
    data_bytes = os.path.getsize(path) - data_offset
    head = magic + struct.pack("<IQQ", version, n_t, len(kvs)) + b"".join(kvs) + tinfo
    head += b"\0" * ((-len(head)) % align)
    base = os.path.basename(path)[:-5]
    with open(os.path.join(HERE, "headers", base + ".gguf-header"), "wb") as out:
        out.write(head)
    return base, len(head) + data_bytes, os.path.getsize(path)


def main():
    rows = [strip(p) for p in sorted(sys.argv[1:])]
    with open(os.path.join(HERE, "headers", "index.tsv"), "w") as f:
        f.write("# gguf\tsize with this header\toriginal file size\n")
        for name, size, orig in rows:
            f.write(f"{name}\t{size}\t{orig}\n")
    print(len(rows), "headers")


if __name__ == "__main__":
    main()
