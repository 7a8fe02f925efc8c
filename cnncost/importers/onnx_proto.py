"""An ONNX file's graph, read straight from the protobuf wire format: no onnx package, no weights read.

``import onnx`` alone takes 0.26 s, and loading a 102 MB ResNet-50 with it
another 0.18 s, most of it copying weights that cnncost never needs
(docs/performance.md). What cnncost needs is the graph: nodes, attributes,
the shapes of the initializers, small constants, inputs, outputs and
value_info. This reads exactly that from a memory map, skipping each
weight's bytes by their length, so the pages that hold weights are never
touched.

The field numbers are those of onnx/onnx.proto (ModelProto, GraphProto,
NodeProto, AttributeProto, TensorProto, ValueInfoProto, TypeProto,
TensorShapeProto, SparseTensorProto, OperatorSetIdProto), which ONNX keeps
stable across versions; tests/test_import.py checks this reader against the
onnx package on every file it exports.
"""

from __future__ import annotations

import mmap
import os
import stat
import struct

from ..errors import CnnCostError, Location

# TensorProto.DataType
FLOAT, UINT8, INT8, UINT16, INT16, INT32, INT64, STRING, BOOL, FLOAT16, DOUBLE, UINT32, UINT64 = range(1, 14)
BFLOAT16 = 16
_STRUCT = {FLOAT: "f", UINT8: "B", INT8: "b", UINT16: "H", INT16: "h", INT32: "i", INT64: "q", BOOL: "?",
           FLOAT16: "e", DOUBLE: "d", UINT32: "I", UINT64: "Q"}
_ITEM = {FLOAT: 4, UINT8: 1, INT8: 1, UINT16: 2, INT16: 2, INT32: 4, INT64: 8, BOOL: 1, FLOAT16: 2, DOUBLE: 8,
         UINT32: 4, UINT64: 8, BFLOAT16: 2}
KEEP_BYTES = 1 << 16  # the raw data of a tensor up to this size is kept (shapes, pads, scales); weights are not
# Nodes in all graphs, and protobuf fields read (weights' bytes are skipped, not read): a network of more than
# 20,000 layers is refused anyway, and these bound the parse of what comes before (docs/security.md)
MAX_GRAPH_NODES = 100_000
MAX_FIELDS = 1_000_000


class DecodeError(Exception):
    pass


class TooLarge(Exception):
    pass


_nodes_read = [0]  # by the parse under way, in all its graphs and subgraphs
_fields_left = [MAX_FIELDS]


class Tensor:
    """A TensorProto: its dims and type, and its values when it is small enough to be a constant cnncost reads."""

    __slots__ = ("name", "dims", "data_type", "_raw", "_typed", "external", "external_data")

    def __init__(self):
        self.name, self.data_type = "", FLOAT
        self.dims: tuple[int, ...] = ()
        self._raw = None  # bytes, when kept
        self._typed = None  # the values of float_data, int64_data, ... when the file uses them
        self.external = False
        self.external_data: dict[str, str] = {}  # location, offset, length: where an external tensor's bytes are

    @property
    def size(self) -> int:
        n = 1
        for d in self.dims:
            n *= d
        return n

    def values(self) -> list | None:
        """The elements, flat; None when they were not kept (a weight, external data)."""
        if self._typed is not None:
            return list(self._typed)
        if self._raw is None:
            return [] if self.size == 0 else None
        code = _STRUCT.get(self.data_type)
        if code is None or len(self._raw) != self.size * _ITEM[self.data_type]:
            return None
        return list(struct.unpack(f"<{self.size}{code}", self._raw))


def load_external(t: Tensor, folder: str):
    """The bytes of a small tensor kept outside the model (torch's dynamo exporter writes every initializer to
    model.onnx.data, the constants of its shape arithmetic too), read where they are no larger than a constant
    cnncost reads (KEEP_BYTES) and lie in a regular file inside the model's folder; else left unread."""
    item = _ITEM.get(t.data_type)
    if not t.external or item is None or not 0 < t.size * item <= KEEP_BYTES:
        return
    location = t.external_data.get("location", "")
    try:
        offset = int(t.external_data.get("offset") or 0)
        length = int(t.external_data.get("length") or t.size * item)
    except ValueError:
        return
    folder = os.path.realpath(folder)
    path = os.path.realpath(os.path.join(folder, location))
    if not location or length != t.size * item or offset < 0 or not path.startswith(folder + os.sep):
        return
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # not a FIFO or a device, which could block or never end
            return
        with open(path, "rb") as f:
            f.seek(offset)
            raw = f.read(length)
    except OSError:
        return
    if len(raw) == length:
        t._raw = raw


class ValueInfo:
    __slots__ = ("name", "elem_type", "dims", "input_kind")

    def __init__(self):
        self.name, self.elem_type, self.dims = "", 0, None  # dims: ints, or strings for symbolic ones
        self.input_kind = None  # what torch's dynamo exporter says an initializer was: PARAMETER, BUFFER, ...


class Node:
    __slots__ = ("name", "op_type", "domain", "inputs", "outputs", "attrs")

    def __init__(self):
        self.name, self.op_type, self.domain = "", "", ""
        self.inputs, self.outputs, self.attrs = [], [], {}


class GraphProto:
    __slots__ = ("name", "nodes", "initializers", "inputs", "outputs", "value_info")

    def __init__(self):
        self.name, self.nodes, self.initializers = "", [], {}
        self.inputs, self.outputs, self.value_info = [], [], {}


class Model:
    __slots__ = ("ir_version", "opsets", "producer", "graph", "functions")

    def __init__(self):
        self.ir_version, self.opsets, self.producer, self.functions = 0, {}, "", 0
        self.graph = GraphProto()  # the file's: parse() refuses a file without one


# --- the wire format ---


def _varint(buf, pos):
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise DecodeError("a varint longer than 10 bytes")


# The wire types each message's fields may come in (0 varint, 2 length-delimited, 5 32-bit, 1 64-bit; a repeated
# number either packed or not). A field in another is refused: the file is damaged (docs/security.md, F9).
_TENSOR = {1: (0, 2), 2: (0,), 4: (2, 5), 5: (0, 2), 6: (2,), 7: (0, 2), 8: (2,), 9: (2,), 10: (2, 1), 11: (0, 2),
           13: (2,), 14: (0,)}
_SPARSE = {1: (2,), 2: (2,), 3: (0, 2)}
_VALUE_INFO = {1: (2,), 2: (2,), 4: (2,)}
_ENTRY = {1: (2,), 2: (2,)}
# the metadata key under which torch's dynamo exporter says whether an initializer was a parameter or a buffer
INPUT_KIND = "pkg.torch.export.graph_signature.InputSpec.kind"
_TYPE = {1: (2,)}
_TENSOR_TYPE = {1: (0,), 2: (2,)}
_SHAPE = {1: (2,)}
_DIMENSION = {1: (0,), 2: (2,)}
_ATTRIBUTE = {1: (2,), 20: (0,), 2: (5,), 3: (0,), 4: (2,), 5: (2,), 6: (2,), 7: (2, 5), 8: (0, 2), 9: (2,),
              10: (2,), 11: (2,)}
_NODE = {1: (2,), 2: (2,), 3: (2,), 4: (2,), 5: (2,), 7: (2,)}
_GRAPH = {1: (2,), 2: (2,), 5: (2,), 11: (2,), 12: (2,), 13: (2,), 15: (2,)}
_MODEL = {1: (0,), 2: (2,), 3: (2,), 7: (2,), 8: (2,)}
_OPSET = {1: (2,), 2: (0,)}


def _fields(buf, span: tuple[int, int], schema):
    """(field number, wire type, value) of each field in buf[pos:end]; a length-delimited value is its
    (start, end) and a fixed one its bytes' position. ``schema``: the wire types of the fields cnncost reads."""
    pos, end = span
    left = _fields_left
    while pos < end:
        left[0] -= 1
        if left[0] < 0:
            raise TooLarge(f"more than {MAX_FIELDS:,} protobuf fields besides the weights: larger than any network of "
                           "20,000 layers")
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        allowed = schema.get(number)
        if allowed is not None and wire not in allowed:
            raise DecodeError(f"field {number} comes as wire type {wire}")
        if wire == 0:
            value, pos = _varint(buf, pos)
            yield number, 0, value
        elif wire == 2:
            length, pos = _varint(buf, pos)
            if pos + length > end:
                raise DecodeError("a field runs past its message")
            yield number, 2, (pos, pos + length)
            pos += length
        elif wire == 5:
            yield number, 5, pos
            pos += 4
        elif wire == 1:
            yield number, 1, pos
            pos += 8
        else:
            raise DecodeError(f"wire type {wire}")
    if pos != end:
        raise DecodeError("a message runs past its end")


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _text(buf, span) -> str:
    return bytes(buf[span[0]:span[1]]).decode("utf-8", "replace")


def _ints(buf, wire, value, into: list):
    if wire == 0:
        into.append(_signed(value))
    else:
        pos, end = value
        while pos < end:
            v, pos = _varint(buf, pos)
            into.append(_signed(v))


def _floats(buf, wire, value, into: list, code="f", size=4):
    if wire == 2:
        start, end = value
        into.extend(struct.unpack(f"<{(end - start) // size}{code}", buf[start:end]))
    else:
        into.extend(struct.unpack(f"<{code}", buf[value:value + size]))


_TOO_MANY: list = []  # the typed values of a tensor too large to keep
_VARINT_ENDS = bytes(range(128, 256))


def _count(buf, number, wire, value) -> int:
    """How many values a typed-data field holds, without decoding them: a 40 MB int64_data took 23 s."""
    if wire != 2:
        return 1
    start, end = value
    if number in (4, 10):
        return (end - start) // (4 if number == 4 else 8)
    if end - start > 10 * KEEP_BYTES:  # a varint is at most 10 bytes: more values than kept, unread
        return (end - start) // 10
    return len(bytes(buf[start:end]).translate(None, _VARINT_ENDS))  # one byte below 0x80 ends each varint


def _tensor(buf, span) -> Tensor:
    t = Tensor()
    dims: list = []
    typed: list | None = None
    for number, wire, value in _fields(buf, span, _TENSOR):
        if number == 1:
            _ints(buf, wire, value, dims)
        elif number == 2:
            t.data_type = value
        elif number == 8:
            t.name = _text(buf, value)
        elif number == 9:
            if value[1] - value[0] <= KEEP_BYTES:
                t._raw = bytes(buf[value[0]:value[1]])
        elif number in (4, 5, 7, 10, 11):  # float_data, int32_data, int64_data, double_data, uint64_data
            typed = typed if typed is not None else []
            if typed is _TOO_MANY:
                continue
            if _count(buf, number, wire, value) + len(typed) > KEEP_BYTES:  # a weight: counted, never decoded
                typed = _TOO_MANY
            elif number in (4, 10):
                _floats(buf, wire, value, typed, *(("f", 4) if number == 4 else ("d", 8)))
            else:
                _ints(buf, wire, value, typed)
        elif number == 13:  # external_data: StringStringEntryProto
            entry = {n: _text(buf, v) for n, _, v in _fields(buf, value, _ENTRY)}
            if 1 in entry:
                t.external_data[entry[1]] = entry.get(2, "")
        elif number == 14:
            t.external = value == 1
    t.dims = tuple(dims)
    if typed is not None and typed is not _TOO_MANY:
        if t.data_type == FLOAT16:  # held as the bits, in int32_data
            typed = list(struct.unpack(f"<{len(typed)}e", struct.pack(f"<{len(typed)}H", *typed)))
        t._typed = typed
    return t


def _sparse_tensor(buf, span) -> Tensor:
    t = Tensor()
    dims: list = []
    for number, wire, value in _fields(buf, span, _SPARSE):
        if number == 1:
            values = _tensor(buf, value)
            t.name, t.data_type = values.name, values.data_type
        elif number == 3:
            _ints(buf, wire, value, dims)
    t.dims = tuple(dims)
    return t


def _value_info(buf, span) -> ValueInfo:
    info = ValueInfo()
    for number, _wire, value in _fields(buf, span, _VALUE_INFO):
        if number == 1:
            info.name = _text(buf, value)
        elif number == 2:  # TypeProto
            for n2, _, v2 in _fields(buf, value, _TYPE):
                if n2 == 1:  # tensor_type
                    for n3, _, v3 in _fields(buf, v2, _TENSOR_TYPE):
                        if n3 == 1:
                            info.elem_type = v3
                        elif n3 == 2:  # TensorShapeProto
                            info.dims = []
                            for n4, _, v4 in _fields(buf, v3, _SHAPE):
                                if n4 == 1:  # Dimension
                                    dim: int | str | None = None
                                    for n5, _, v5 in _fields(buf, v4, _DIMENSION):
                                        if n5 == 1:
                                            dim = _signed(v5)
                                        elif n5 == 2:
                                            dim = _text(buf, v5)
                                    info.dims.append(dim)
        elif number == 4:  # metadata_props: StringStringEntryProto
            entry = {n: _text(buf, v) for n, _, v in _fields(buf, value, _ENTRY)}
            if entry.get(1) == INPUT_KIND:
                info.input_kind = entry.get(2)
    return info


# AttributeProto.AttributeType
_A_FLOAT, _A_INT, _A_STRING, _A_TENSOR, _A_GRAPH, _A_FLOATS, _A_INTS, _A_STRINGS, _A_TENSORS, _A_GRAPHS = range(1, 11)


def _attribute(buf, span):
    name, kind = "", 0
    found: dict = {}
    for number, wire, value in _fields(buf, span, _ATTRIBUTE):
        if number == 1:
            name = _text(buf, value)
        elif number == 20:
            kind = value
        elif number == 2:
            found[_A_FLOAT] = struct.unpack("<f", buf[value:value + 4])[0]
        elif number == 3:
            found[_A_INT] = _signed(value)
        elif number == 4:
            found[_A_STRING] = _text(buf, value)
        elif number == 5:
            found[_A_TENSOR] = _tensor(buf, value)
        elif number == 6:
            found[_A_GRAPH] = _graph(buf, value)
        elif number == 7:
            _floats(buf, wire, value, found.setdefault(_A_FLOATS, []))
        elif number == 8:
            _ints(buf, wire, value, found.setdefault(_A_INTS, []))
        elif number == 9:
            found.setdefault(_A_STRINGS, []).append(_text(buf, value))
        elif number == 10:
            found.setdefault(_A_TENSORS, []).append(_tensor(buf, value))
        elif number == 11:
            found.setdefault(_A_GRAPHS, []).append(_graph(buf, value))
    if kind in found:
        return name, found[kind]
    if kind in (_A_FLOATS, _A_INTS, _A_STRINGS, _A_TENSORS, _A_GRAPHS):
        return name, []  # an empty list has no field at all
    return name, next(iter(found.values()), None)


def _node(buf, span) -> Node:
    node = Node()
    for number, _wire, value in _fields(buf, span, _NODE):
        if number == 1:
            node.inputs.append(_text(buf, value))
        elif number == 2:
            node.outputs.append(_text(buf, value))
        elif number == 3:
            node.name = _text(buf, value)
        elif number == 4:
            node.op_type = _text(buf, value)
        elif number == 7:
            node.domain = _text(buf, value)
        elif number == 5:
            key, attr = _attribute(buf, value)
            node.attrs[key] = attr
    return node


def _graph(buf, span) -> GraphProto:
    g = GraphProto()
    for number, _wire, value in _fields(buf, span, _GRAPH):
        if number == 1:
            g.nodes.append(_node(buf, value))
            _nodes_read[0] += 1
            if _nodes_read[0] > MAX_GRAPH_NODES:
                raise TooLarge(f"more than {MAX_GRAPH_NODES:,} nodes: cnncost reads networks of at most 20,000 "
                               "layers")
        elif number == 2:
            g.name = _text(buf, value)
        elif number == 5:
            t = _tensor(buf, value)
            g.initializers[t.name] = t
        elif number == 15:
            t = _sparse_tensor(buf, value)
            g.initializers[t.name] = t
        elif number == 11:
            g.inputs.append(_value_info(buf, value))
        elif number == 12:
            g.outputs.append(_value_info(buf, value))
        elif number == 13:
            info = _value_info(buf, value)
            g.value_info[info.name] = info
    return g


def parse(buf) -> Model:
    model = Model()
    graph = None
    _nodes_read[0] = 0
    _fields_left[0] = MAX_FIELDS
    for number, _wire, value in _fields(buf, (0, len(buf)), _MODEL):
        if number == 1:
            model.ir_version = value
        elif number == 2:
            model.producer = _text(buf, value) + model.producer
        elif number == 3:
            model.producer += " " + _text(buf, value)
        elif number == 8:
            domain, version = "", 0
            for n2, _, v2 in _fields(buf, value, _OPSET):
                if n2 == 1:
                    domain = _text(buf, v2)
                elif n2 == 2:
                    version = v2
            model.opsets[domain] = version
        elif number == 7:
            graph = _graph(buf, value)
        elif number == 25:
            model.functions += 1
    if graph is None:
        raise DecodeError("no graph")
    model.graph = graph
    return model


def read(path: str) -> Model:
    """The model in an ONNX file; one error when it cannot be read or is not ONNX."""
    where = Location(path)
    try:
        # non-blocking, so that a FIFO with no writer cannot wait forever; only a regular file can be mapped
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
        with open(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                raise CnnCostError("not a regular file (a device, FIFO or socket): an ONNX model is read from a "
                                   "file", location=where)
            size = os.fstat(f.fileno()).st_size
            if size == 0:
                raise CnnCostError("the file is empty, not an ONNX model", location=where)
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                view = memoryview(mapped)
                try:
                    return parse(view)
                finally:
                    view.release()
    except FileNotFoundError:
        raise CnnCostError("no such file", location=where) from None
    except IsADirectoryError:
        raise CnnCostError("is a folder, not an ONNX file", location=where) from None
    except OSError as exc:
        raise CnnCostError(f"cannot read the file: {exc.strerror}", location=where) from None
    except TooLarge as exc:
        raise CnnCostError(str(exc), location=where) from None
    except (DecodeError, IndexError, struct.error, ValueError, OverflowError) as exc:
        detail = f": {exc}" if isinstance(exc, DecodeError) else ""
        raise CnnCostError(f"not an ONNX model (the protobuf does not decode{detail})", location=where) from None
