"""Writes the malformed-GGUF corpus: each file is a small GGUF header with
one defect, listed in cases.tsv with the error gpumem must give. Plain
struct packing, so each defect is explicit.

    python3 tests/bad_gguf/make_corpus.py
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 = range(13)


def s(text):
    b = text.encode() if isinstance(text, str) else text
    return struct.pack("<Q", len(b)) + b


def kv(key, vtype, payload):
    return s(key) + struct.pack("<I", vtype) + payload


def u32(key, v):
    return kv(key, U32, struct.pack("<I", v))


def string(key, v):
    return kv(key, STR, s(v))


def tinfo(name, dims, ttype, offset):
    return s(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims) + \
        struct.pack("<IQ", ttype, offset)


BASE_KV = [string("general.architecture", "llama"), u32("llama.block_count", 1),
           u32("llama.embedding_length", 64), u32("llama.attention.head_count", 4)]
# token_embd 64x32 F32 = 8192 bytes, norm 64 F32 = 256 bytes at 8192.
BASE_T = [tinfo("token_embd.weight", [64, 32], 0, 0), tinfo("blk.0.attn_norm.weight", [64], 0, 8192)]


def gguf(kvs=None, tensors=None, version=3, magic=b"GGUF", n_t=None, n_kv=None, data=8448,
         align=32):
    kvs = BASE_KV if kvs is None else kvs
    tensors = BASE_T if tensors is None else tensors
    head = magic + struct.pack("<IQQ", version, len(tensors) if n_t is None else n_t,
                               len(kvs) if n_kv is None else n_kv)
    body = head + b"".join(kvs) + b"".join(tensors)
    pad = (-len(body)) % align
    return body + b"\0" * pad + b"\0" * data


cases = []


def case(name, blob, status, msg):
    with open(os.path.join(HERE, name + ".gguf"), "wb") as f:
        f.write(blob)
    cases.append((name + ".gguf", status, msg))


good = gguf()
case("empty", b"", "GPUMEM_ERR_PARSE", "truncated: magic")
case("bad_magic", b"GGML" + good[4:], "GPUMEM_ERR_PARSE", "bad magic")
case("version_1", gguf(version=1), "GPUMEM_ERR_UNSUPPORTED", "GGUF version 1 is not supported")
case("version_4", gguf(version=4), "GPUMEM_ERR_UNSUPPORTED", "GGUF version 4")
case("truncated_in_counts", good[:12], "GPUMEM_ERR_PARSE", "truncated: tensor count")
case("truncated_in_key", good[:30], "GPUMEM_ERR_PARSE", "truncated")
case("huge_tensor_count", gguf(n_t=1 << 40), "GPUMEM_ERR_PARSE", "implausible counts")
case("huge_kv_count", gguf(n_kv=1 << 33), "GPUMEM_ERR_PARSE", "implausible counts")
case("counts_larger_than_file", gguf(n_kv=5000, data=0), "GPUMEM_ERR_PARSE",
     "header counts need more bytes than the file has")
case("key_length_huge", gguf(kvs=[struct.pack("<Q", 1 << 40) + b"x"] + BASE_KV), "GPUMEM_ERR_PARSE",
     "metadata key at byte 24 has length")
case("key_not_utf8", gguf(kvs=[u32("general.\xff\xfe", 1)] + BASE_KV) if False else
     gguf(kvs=[s(b"general.\xff\xfe") + struct.pack("<II", U32, 1)] + BASE_KV), "GPUMEM_ERR_PARSE",
     "is not valid UTF-8")
case("value_type_13", gguf(kvs=[kv("x.y", 13, b"\0" * 8)] + BASE_KV), "GPUMEM_ERR_PARSE",
     "unknown metadata value type 13")
case("bool_value_2", gguf(kvs=[kv("x.flag", BOOL, b"\x02")] + BASE_KV), "GPUMEM_ERR_PARSE",
     "bool at byte")
case("string_past_end", gguf(kvs=BASE_KV + [kv("x.s", STR, struct.pack("<Q", 1 << 20))],
                             tensors=[], data=0), "GPUMEM_ERR_PARSE", "bytes past the end")
case("string_length_huge", gguf(kvs=BASE_KV + [kv("x.s", STR, struct.pack("<Q", 1 << 50))]),
     "GPUMEM_ERR_PARSE", "more than")
case("array_length_huge", gguf(kvs=BASE_KV + [kv("x.a", ARR, struct.pack("<IQ", U32, 1 << 40))]),
     "GPUMEM_ERR_PARSE", "elements, more than")
case("array_past_end", gguf(kvs=BASE_KV + [kv("x.a", ARR, struct.pack("<IQ", U64, 1 << 20))],
                            tensors=[], data=0), "GPUMEM_ERR_PARSE", "runs past the end")
case("array_bad_elem_type", gguf(kvs=BASE_KV + [kv("x.a", ARR, struct.pack("<IQ", 99, 1))]),
     "GPUMEM_ERR_PARSE", "unknown metadata value type 99")
nest = struct.pack("<IQ", ARR, 1) * 5 + struct.pack("<IQ", U8, 0)
case("array_nested_too_deep", gguf(kvs=BASE_KV + [kv("x.a", ARR, nest)]), "GPUMEM_ERR_PARSE",
     "nested more than 3 deep")
case("duplicate_key", gguf(kvs=BASE_KV + [u32("llama.block_count", 2)]), "GPUMEM_ERR_PARSE",
     "metadata key 'llama.block_count' appears twice")
case("alignment_zero", gguf(kvs=BASE_KV + [u32("general.alignment", 0)]), "GPUMEM_ERR_PARSE",
     "general.alignment must be a u32 power of two")
case("alignment_three", gguf(kvs=BASE_KV + [u32("general.alignment", 3)]), "GPUMEM_ERR_PARSE",
     "power of two")
case("alignment_wrong_type", gguf(kvs=BASE_KV + [string("general.alignment", "32")]),
     "GPUMEM_ERR_PARSE", "power of two")
case("tensor_name_not_utf8", gguf(tensors=[s(b"tok\xc3") + struct.pack("<IQIQ", 1, 64, 0, 0)]),
     "GPUMEM_ERR_PARSE", "tensor name at byte")
case("tensor_dims_zero", gguf(tensors=[tinfo("t", [], 0, 0)]), "GPUMEM_ERR_PARSE",
     "has 0 dimensions")
case("tensor_dims_five", gguf(tensors=[tinfo("t", [1, 1, 1, 1, 1], 0, 0)]), "GPUMEM_ERR_PARSE",
     "has 5 dimensions")
case("tensor_dim_zero", gguf(tensors=[tinfo("t", [64, 0], 0, 0)]), "GPUMEM_ERR_PARSE",
     "dimension 1 is 0")
case("tensor_elements_overflow", gguf(tensors=[tinfo("t", [1 << 40, 1 << 40], 0, 0)]),
     "GPUMEM_ERR_PARSE", "element count overflows")
case("tensor_type_removed_4", gguf(tensors=[tinfo("t", [64], 4, 0)]), "GPUMEM_ERR_UNSUPPORTED",
     "unknown ggml type 4")
case("tensor_type_99", gguf(tensors=[tinfo("t", [64], 99, 0)]), "GPUMEM_ERR_UNSUPPORTED",
     "unknown ggml type 99")
case("tensor_not_block_multiple", gguf(tensors=[tinfo("t", [100], 12, 0)]), "GPUMEM_ERR_PARSE",
     "not a multiple of Q4_K's block of 256")
case("tensor_offset_misaligned", gguf(tensors=[tinfo("t", [64], 0, 4)]), "GPUMEM_ERR_PARSE",
     "is not a multiple of the alignment 32")
case("tensor_past_end", gguf(tensors=[tinfo("t", [64, 1024], 0, 0)], data=256), "GPUMEM_ERR_PARSE",
     "ends past the end of the file")
case("tensor_offset_huge", gguf(tensors=[tinfo("t", [64], 0, 1 << 62)]), "GPUMEM_ERR_PARSE",
     "ends past the end")
case("tensors_overlap", gguf(tensors=[tinfo("a", [64, 32], 0, 0), tinfo("b", [64], 0, 4096)]),
     "GPUMEM_ERR_PARSE", "overlap")
case("tensor_name_twice", gguf(tensors=[tinfo("a", [64], 0, 0), tinfo("a", [64], 0, 256)]),
     "GPUMEM_ERR_PARSE", "tensor name 'a' appears twice")
case("truncated_in_tensor_info", good[:len(gguf(data=0)) - 60], "GPUMEM_ERR_PARSE", "truncated")
case("data_truncated", good[:-300], "GPUMEM_ERR_PARSE", "truncated file?")
case("no_architecture", gguf(kvs=BASE_KV[1:]), "GPUMEM_ERR_INVALID", "no general.architecture")
case("no_block_count", gguf(kvs=[BASE_KV[0]] + BASE_KV[2:]), "GPUMEM_ERR_INVALID",
     "llama.block_count is missing")
case("layer_index_out_of_range",
     gguf(tensors=[tinfo("token_embd.weight", [64, 32], 0, 0), tinfo("blk.7.x.weight", [64], 0, 8192)]),
     "GPUMEM_ERR_INVALID", "names layer 7 but block_count is 1")

# The extra files llama.cpp loads beside a model (model_gguf_extra.c).
ADAPTER = [string("general.architecture", "llama"), string("general.type", "adapter")]
case("adapter_not_lora", gguf(kvs=ADAPTER + [string("adapter.type", "control_vector")]),
     "GPUMEM_ERR_UNSUPPORTED", "llama.cpp loads only 'lora' adapters")
case("adapter_plain_tensor", gguf(kvs=ADAPTER + [string("adapter.type", "lora")]),
     "GPUMEM_ERR_INVALID", "does not end in .lora_a or .lora_b")
case("adapter_huge_layer",
     gguf(kvs=ADAPTER + [string("adapter.type", "lora")],
          tensors=[tinfo("blk.4000000000.attn_q.weight.lora_a", [64], 0, 0)]),
     "GPUMEM_ERR_INVALID", "names layer")
case("clip_no_vision_tower",
     gguf(kvs=[string("general.architecture", "clip"), u32("clip.vision.image_size", 224)]),
     "GPUMEM_ERR_INVALID", "multimodal projector without a vision tower")
case("clip_image_too_large",
     gguf(kvs=[string("general.architecture", "clip"), u32("clip.vision.image_size", 9000),
               u32("clip.vision.patch_size", 14), u32("clip.vision.embedding_length", 64),
               u32("clip.vision.attention.head_count", 4), u32("clip.vision.block_count", 1)]),
     "GPUMEM_ERR_INVALID", "image_size at most 8192")

with open(os.path.join(HERE, "cases.tsv"), "w") as f:
    f.write("# file\texpected status\texpected message substring\n")
    for c in cases:
        f.write("\t".join(c) + "\n")
print(len(cases), "cases")
