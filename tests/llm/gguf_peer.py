"""Parity peer for the C++ GGUF reader and dequantiser: llama.cpp's `gguf` Python package.

  gguf_peer.py meta MODEL.gguf      JSON on stdout: data offset, alignment, every metadata key with
                                    its types and a digest of its value, every tensor's info
  gguf_peer.py dump MODEL.gguf      binary on stdout, per tensor in file order:
                                    u32 name length, name, u64 element count, float32 values
                                    (gguf.quants.dequantize, row chunks to bound memory)
"""
import hashlib
import json
import struct
import sys

import numpy as np
from gguf import GGUFReader, GGUFValueType
from gguf.quants import dequantize


def field_digest(field):
    """sha256 of the value as encoded in the file (strings: u64 length + bytes)."""
    h = hashlib.sha256()
    main = field.types[0]
    if main == GGUFValueType.ARRAY:
        elem = field.types[1] if len(field.types) > 1 else None
        for idx in field.data:
            part = field.parts[idx]
            if elem == GGUFValueType.STRING:
                h.update(struct.pack("<Q", part.size))
            h.update(part.tobytes())
    else:
        part = field.parts[field.data[0]]
        if main == GGUFValueType.STRING:
            h.update(struct.pack("<Q", part.size))
        h.update(part.tobytes())
    return h.hexdigest()


def meta(path):
    r = GGUFReader(path)
    kv = []
    for name, f in r.fields.items():
        if name.startswith("GGUF."):
            continue
        entry = {"key": name, "types": [int(t) for t in f.types], "sha256": field_digest(f)}
        if f.types[0] == GGUFValueType.ARRAY:
            entry["count"] = len(f.data)
        kv.append(entry)
    tensors = [
        {
            "name": t.name,
            "dims": [int(d) for d in t.shape],
            "type": int(t.tensor_type),
            "offset": int(t.data_offset) - int(r.data_offset),
            "n_elements": int(t.n_elements),
            "n_bytes": int(t.n_bytes),
        }
        for t in r.tensors
    ]
    json.dump({"data_offset": int(r.data_offset), "alignment": int(r.alignment), "kv": kv, "tensors": tensors},
              sys.stdout)


def dump(path):
    r = GGUFReader(path)
    out = sys.stdout.buffer
    for t in r.tensors:
        name = t.name.encode()
        out.write(struct.pack("<I", len(name)) + name + struct.pack("<Q", int(t.n_elements)))
        data = t.data
        rows = data.reshape(-1, data.shape[-1]) if data.ndim > 1 else data.reshape(1, -1)
        step = max(1, (1 << 22) // max(1, rows.shape[1] * rows.itemsize))
        for a in range(0, rows.shape[0], step):
            vals = dequantize(rows[a:a + step], t.tensor_type)
            out.write(np.ascontiguousarray(vals, dtype="<f4").tobytes())
    out.flush()


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("meta", "dump"):
        sys.exit(__doc__)
    {"meta": meta, "dump": dump}[sys.argv[1]](sys.argv[2])
