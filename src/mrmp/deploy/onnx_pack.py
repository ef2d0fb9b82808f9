"""Small ONNX files: initializers stored as their kept values, rebuilt by standard operators.

A pruned weight W of shape S with k nonzeros is stored as two initializers, its kept values
``W.values`` (k,) in W's float type and the gaps between their flat row-major positions
``W.gaps`` (k,) in the smallest unsigned type that holds the largest gap (the first gap is the
first position), and rebuilt under W's own name by five standard operators::

    flat = CumSum(Cast(gaps, int64), 0)  # (k,) positions
    W = Reshape(ScatterND(ConstantOfShape(numel), Unsqueeze(flat, 1), values), S)

Every input of that subgraph is an initializer, so ONNX Runtime folds it into the dense W once,
at session creation (graph optimisation level basic or above, the default): inference runs the
same graph as an unpacked file. Any runtime of opset ≥ 13 reads the file. ONNX's own sparse
initializers would need int64 positions (12 bytes per kept weight against 5–8 here).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from onnx import ModelProto, NodeProto, TensorProto

__all__ = ["pack_initializers", "packed_bytes"]

_GAP_TYPES = (np.uint8, np.uint16, np.uint32, np.uint64)
_FLOAT_TYPES = (np.float16, np.float32, np.float64)
_AXIS, _AXES = "mrmp_pack.axis0", "mrmp_pack.axes1"


def _gap_type(gaps: NDArray[np.int64]) -> type[np.unsignedinteger]:
    """Smallest unsigned type holding every gap.

    >>> _gap_type(np.array([0, 255])).__name__, _gap_type(np.array([256])).__name__
    ('uint8', 'uint16')
    """
    top = int(gaps.max(initial=0))
    return next(t for t in _GAP_TYPES if top <= np.iinfo(t).max)


def packed_bytes(array: NDArray[np.generic]) -> int:
    """Bytes of the kept values and gaps that would replace ``array``'s dense data."""
    flat = np.flatnonzero(array)
    gaps = np.diff(flat, prepend=0)
    return flat.size * (array.itemsize + np.dtype(_gap_type(gaps)).itemsize)


def _rebuild_nodes(name: str, dtype: np.dtype, count: int) -> list[NodeProto]:
    """The nodes that rebuild initializer ``name`` from ``name.values`` / ``name.gaps``."""
    from onnx import TensorProto as Types
    from onnx import helper, numpy_helper

    zero = numpy_helper.from_array(np.zeros(1, dtype=dtype))
    p = f"{name}.pack"
    zeros = helper.make_node("ConstantOfShape", [f"{name}.numel"], [f"{p}.zeros"], value=zero)
    if count == 0:
        return [zeros, helper.make_node("Reshape", [f"{p}.zeros", f"{name}.shape"], [name])]
    return [
        zeros,
        helper.make_node("Cast", [f"{name}.gaps"], [f"{p}.gaps64"], to=Types.INT64),
        helper.make_node("CumSum", [f"{p}.gaps64", _AXIS], [f"{p}.flat"]),
        helper.make_node("Unsqueeze", [f"{p}.flat", _AXES], [f"{p}.index"]),
        helper.make_node("ScatterND", [f"{p}.zeros", f"{p}.index", f"{name}.values"], [f"{p}.dense"]),
        helper.make_node("Reshape", [f"{p}.dense", f"{name}.shape"], [name]),
    ]


def _packed_initializers(name: str, array: NDArray[np.generic]) -> list[TensorProto]:
    """``name.values``, ``name.gaps``, ``name.numel`` and ``name.shape`` of one initializer."""
    from onnx import numpy_helper

    flat = np.flatnonzero(array)
    gaps = np.diff(flat, prepend=0)
    tensors = {
        "numel": np.array([array.size], dtype=np.int64),
        "shape": np.array(array.shape, dtype=np.int64),
    }
    if flat.size:
        tensors["values"] = array.reshape(-1)[flat]
        tensors["gaps"] = gaps.astype(_gap_type(gaps))
    return [numpy_helper.from_array(t, f"{name}.{key}") for key, t in tensors.items()]


def pack_initializers(model: ModelProto, min_elements: int = 64) -> list[str]:
    """Store each float initializer of ``model`` (an ``onnx.ModelProto``) whose kept values and
    gaps are smaller than its dense data in the packed form of the module docstring, in place.

    Args:
        model: The model; its main graph's initializers are rewritten, its nodes prepended with
            the rebuilding subgraphs (opset ≥ 13 needed).
        min_elements: Initializers with fewer elements stay dense (the subgraph would cost more).

    Returns:
        Names of the packed initializers.
    """
    from onnx import numpy_helper

    graph = model.graph
    keep, nodes, packed, added = [], [], [], []
    for init in graph.initializer:
        array = numpy_helper.to_array(init)
        small = array.size < min_elements or array.dtype.type not in _FLOAT_TYPES
        if small or packed_bytes(array) + 64 >= array.nbytes:
            keep.append(init)
            continue
        added += _packed_initializers(init.name, array)
        nodes += _rebuild_nodes(init.name, array.dtype, int(np.count_nonzero(array)))
        packed.append(init.name)
    if not packed:
        return []
    shared = [numpy_helper.from_array(np.array(0, dtype=np.int64), _AXIS)]
    shared.append(numpy_helper.from_array(np.array([1], dtype=np.int64), _AXES))
    body = list(graph.node)
    del graph.initializer[:], graph.node[:]
    graph.initializer.extend([*keep, *shared, *added])
    graph.node.extend([*nodes, *body])
    return packed
