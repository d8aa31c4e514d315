"""Check a TFLite flatbuffer before TensorFlow's interpreter sees it.

The interpreter trusts the offsets inside the file: a model cut short (a full disk, an
interrupted copy) or with bytes changed makes it read outside the file and crash the process
(a segmentation fault, no message). :func:`verify_tflite` walks the model's tables the way the
interpreter will (every offset, vector and index checked to lie inside the file and to name
something that exists) and raises :class:`TFLiteFormatError` saying what is wrong; it reads the
structure only, not the weights, in milliseconds. The field numbers are those of TensorFlow
Lite's ``schema.fbs`` (version 3), which :mod:`tensorflow.lite.python.schema_py_generated`
carries; nothing here imports TensorFlow unless a file passes the first checks.
"""
from __future__ import annotations

import struct

__all__ = ["TFLiteFormatError", "verify_tflite"]

#: the largest dimension, rank and vector the check believes (a changed byte shows as more)
_MAX_DIM, _MAX_RANK = 1 << 24, 16


class TFLiteFormatError(ValueError):
    """A file that is not a whole TFLite model; the message says what is wrong (the caller
    names the file)."""


def _enum_max(cls) -> int:
    return max(v for k, v in vars(cls).items() if not k.startswith("_") and isinstance(v, int))


class _Flat:
    """Bounds-checked reads of a flatbuffer: tables, their fields, vectors and strings."""

    def __init__(self, data: bytes):
        self.d, self.n = memoryview(data), len(data)

    def need(self, pos: int, size: int, what: str) -> None:
        if pos < 0 or size < 0 or pos + size > self.n:
            raise TFLiteFormatError(f"{what} at byte {pos} lies outside the file ({self.n} "
                                    "bytes: cut short, or damaged)")

    def _get(self, fmt: str, pos: int):
        self.need(pos, struct.calcsize(fmt), "a value")
        return struct.unpack_from(fmt, self.d, pos)[0]

    def u8(self, p):
        return self._get("<B", p)

    def u16(self, p):
        return self._get("<H", p)

    def i32(self, p):
        return self._get("<i", p)

    def u32(self, p):
        return self._get("<I", p)

    def u64(self, p):
        return self._get("<Q", p)

    def table(self, pos: int, what: str) -> tuple:
        self.need(pos, 4, what)
        vt = pos - self.i32(pos)
        self.need(vt, 4, f"{what}'s field table")
        vlen, olen = self.u16(vt), self.u16(vt + 2)
        if vlen < 4 or vlen % 2:
            raise TFLiteFormatError(f"{what}'s field table is malformed (length {vlen})")
        self.need(vt, vlen, f"{what}'s field table")
        self.need(pos, max(olen, 4), what)
        return pos, vt, vlen, olen, what

    def _field(self, t: tuple, idx: int, size: int) -> int | None:
        pos, vt, vlen, olen, what = t
        slot = 4 + 2 * idx
        if slot >= vlen:
            return None
        off = self.u16(vt + slot)
        if off == 0:
            return None
        if off + size > olen:
            raise TFLiteFormatError(f"{what}: field {idx} runs past its table")
        return pos + off

    def scalar(self, t: tuple, idx: int, reader, size: int, default=0):
        p = self._field(t, idx, size)
        return default if p is None else reader(p)

    def ref(self, t: tuple, idx: int) -> int | None:
        p = self._field(t, idx, 4)
        if p is None:
            return None
        target = p + self.u32(p)
        self.need(target, 4, f"{t[4]}'s field {idx}")
        return target

    def vector(self, t: tuple, idx: int, elem: int, what: str) -> tuple[int | None, int]:
        start = self.ref(t, idx)
        if start is None:
            return None, 0
        length = self.u32(start)
        self.need(start + 4, length * elem, what)
        return start + 4, length

    def ints(self, t: tuple, idx: int, what: str) -> list[int]:
        start, length = self.vector(t, idx, 4, what)
        return [] if start is None else list(struct.unpack_from(f"<{length}i", self.d, start))

    def tables(self, t: tuple, idx: int, what: str):
        start, length = self.vector(t, idx, 4, what)
        for i in range(length):
            p = start + 4 * i
            yield self.table(p + self.u32(p), f"{what} {i}")

    def string(self, t: tuple, idx: int, what: str) -> None:
        self.vector(t, idx, 1, what)


def _check_external(f: _Flat, offset: int, size: int, what: str) -> None:
    """Data stored after the flatbuffer (``offset``/``size`` fields; 0 or 1: none)."""
    if offset > 1 and offset + size > f.n:
        raise TFLiteFormatError(f"{what}: its {size} bytes at byte {offset} lie outside the "
                                f"file ({f.n} bytes: cut short, or damaged)")


def verify_tflite(data: bytes) -> None:
    """Raise :class:`TFLiteFormatError` unless ``data`` is a TFLite model whose every table,
    vector, string and index lies inside it and names what exists (operator codes, tensors,
    buffers, subgraphs). Weights are not judged: a checksum is what catches changed weights."""
    n = len(data)
    if n < 8:
        raise TFLiteFormatError(f"only {n} bytes: too short for a TFLite model")
    if bytes(data[4:8]) != b"TFL3":
        raise TFLiteFormatError(f"no TFLite identifier (bytes 4 to 8 are {bytes(data[4:8])!r}, "
                                "not b'TFL3'): not a TFLite model, or damaged")
    from tensorflow.lite.python import schema_py_generated as schema

    f = _Flat(data)
    root = f.table(f.u32(0), "the model")
    version = f.scalar(root, 0, f.u32, 4)
    if version != 3:
        raise TFLiteFormatError(f"schema version {version}, expected 3 (damaged?)")
    max_op, max_type = _enum_max(schema.BuiltinOperator), _enum_max(schema.TensorType)
    max_options = (_enum_max(schema.BuiltinOptions), _enum_max(schema.BuiltinOptions2))
    codes = list(f.tables(root, 1, "operator code"))
    for c in codes:
        op = max(f.scalar(c, 0, f.u8, 1), f.scalar(c, 3, f.i32, 4))
        if not 0 <= op <= max_op:
            raise TFLiteFormatError(f"{c[4]}: unknown operator {op}")
        f.string(c, 1, f"{c[4]}'s custom name")
    buffers = list(f.tables(root, 4, "buffer"))
    for b in buffers:
        f.vector(b, 0, 1, f"{b[4]}'s data")
        _check_external(f, f.scalar(b, 1, f.u64, 8), f.scalar(b, 2, f.u64, 8), b[4])
    subgraphs = list(f.tables(root, 2, "subgraph"))
    if not subgraphs:
        raise TFLiteFormatError("no subgraph: nothing to run")
    tensor_counts = [_verify_subgraph(f, g, len(codes), len(buffers), max_type, max_options)
                     for g in subgraphs]
    for s in f.tables(root, 7, "signature"):
        sub = f.scalar(s, 4, f.u32, 4)
        if sub >= len(subgraphs):
            raise TFLiteFormatError(f"{s[4]}: names subgraph {sub} of {len(subgraphs)}")
        for idx in (0, 1):
            for m in f.tables(s, idx, f"{s[4]}'s tensor"):
                f.string(m, 0, f"{m[4]}'s name")
                tensor = f.scalar(m, 1, f.u32, 4)
                if tensor >= tensor_counts[sub]:
                    raise TFLiteFormatError(f"{m[4]}: names tensor {tensor} of "
                                            f"{tensor_counts[sub]}")
        f.string(s, 2, f"{s[4]}'s key")
    for m in f.tables(root, 6, "metadata"):
        f.string(m, 0, f"{m[4]}'s name")
        if f.scalar(m, 1, f.u32, 4) >= len(buffers):
            raise TFLiteFormatError(f"{m[4]}: names buffer {f.scalar(m, 1, f.u32, 4)} of "
                                    f"{len(buffers)}")
    f.ints(root, 5, "the metadata buffers")
    f.string(root, 3, "the description")


def _verify_subgraph(f: _Flat, g: tuple, n_codes: int, n_buffers: int, max_type: int,
                     max_options: tuple[int, int]) -> int:
    tensors = list(f.tables(g, 0, f"{g[4]}'s tensor"))
    count = len(tensors)
    for t in tensors:
        for idx in (0, 7):  # shape, shape signature
            dims = f.ints(t, idx, f"{t[4]}'s shape")
            if len(dims) > _MAX_RANK or any(d < -1 or d > _MAX_DIM for d in dims):
                raise TFLiteFormatError(f"{t[4]}: impossible shape {dims[:_MAX_RANK]}")
        if f.scalar(t, 1, f.u8, 1) > max_type:
            raise TFLiteFormatError(f"{t[4]}: unknown type {f.scalar(t, 1, f.u8, 1)}")
        buffer = f.scalar(t, 2, f.u32, 4)
        if buffer >= max(n_buffers, 1):
            raise TFLiteFormatError(f"{t[4]}: names buffer {buffer} of {n_buffers}")
        f.string(t, 3, f"{t[4]}'s name")
        quantization = f.ref(t, 4)
        if quantization is not None:
            q = f.table(quantization, f"{t[4]}'s quantization")
            for idx, elem in ((0, 4), (1, 4), (2, 4), (3, 8)):
                f.vector(q, idx, elem, f"{t[4]}'s quantization")
        sparsity = f.ref(t, 6)
        if sparsity is not None:
            f.table(sparsity, f"{t[4]}'s sparsity")
    for idx, what in ((1, "inputs"), (2, "outputs")):
        bad = [i for i in f.ints(g, idx, what) if not 0 <= i < count]
        if bad:
            raise TFLiteFormatError(f"{g[4]}'s {what} name tensor {bad[0]} of {count}")
    for op in f.tables(g, 3, f"{g[4]}'s operator"):
        code = f.scalar(op, 0, f.u32, 4)
        if code >= n_codes:
            raise TFLiteFormatError(f"{op[4]}: names operator code {code} of {n_codes}")
        for idx, what in ((1, "inputs"), (2, "outputs"), (8, "intermediates")):
            bad = [i for i in f.ints(op, idx, what) if not -1 <= i < count]
            if bad:
                raise TFLiteFormatError(f"{op[4]}'s {what} name tensor {bad[0]} of {count}")
        for (type_idx, table_idx), top in zip(((3, 4), (11, 12)), max_options):
            kind = f.scalar(op, type_idx, f.u8, 1)
            if kind > top:
                raise TFLiteFormatError(f"{op[4]}: unknown options type {kind}")
            options = f.ref(op, table_idx)
            if options is not None:
                f.table(options, f"{op[4]}'s options")
        f.vector(op, 5, 1, f"{op[4]}'s custom options")
        f.vector(op, 7, 1, f"{op[4]}'s variable inputs")
        _check_external(f, f.scalar(op, 9, f.u64, 8), f.scalar(op, 10, f.u64, 8),
                        f"{op[4]}'s custom options")
    f.string(g, 4, f"{g[4]}'s name")
    return count
