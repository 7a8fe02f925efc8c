"""Hypothesis strategies: random valid networks as YAML text, with their expected shapes.

The generator tracks shapes with its own arithmetic (not cnncost's), so the
networks are valid by construction and their output shapes are known.
"""

from __future__ import annotations

from hypothesis import strategies as st


def _conv_out(size, k, s, p):
    return (size + 2 * p - k) // s + 1


def _pool_out(size, k, s, ceil):
    if not ceil:
        return (size - k) // s + 1
    out = -(-(size - k) // s) + 1
    # PyTorch drops a last window that would start past the input
    return out - 1 if (out - 1) * s >= size else out


@st.composite
def networks(draw, max_layers=8):
    """(yaml_text, [(layer name, expected output shape)])."""
    c = draw(st.integers(1, 8))
    h = w = draw(st.integers(4, 24))
    lines = [f"input: [{c}, {h}, {w}]", "layers:"]
    expected = []
    vector = False
    for i in range(draw(st.integers(1, max_layers))):
        name = f"l{i}"
        choices = ["linear", "relu", "dropout"] if vector else [
            "conv", "conv", "dwconv", "maxpool", "avgpool", "batchnorm", "relu", "residual", "parallel",
            "global_avgpool", "flatten", "shuffle"]
        op = draw(st.sampled_from(choices))
        if op == "conv":
            k = draw(st.integers(1, min(5, h, w)))
            s = draw(st.integers(1, 2))
            p = draw(st.integers(0, k // 2))
            g = draw(st.sampled_from([d for d in (1, 2, 4) if c % d == 0]))
            out = g * draw(st.integers(1, 6))
            bias = draw(st.booleans())
            lines.append(f"  - conv: {{name: {name}, out: {out}, kernel: {k}, stride: {s}, padding: {p}, "
                         f"groups: {g}, bias: {str(bias).lower()}}}")
            c, h, w = out, _conv_out(h, k, s, p), _conv_out(w, k, s, p)
        elif op == "dwconv":
            k = draw(st.sampled_from([k for k in (1, 3) if k <= h and k <= w]))
            lines.append(f"  - dwconv: {{name: {name}, kernel: {k}, padding: {k // 2}}}")
        elif op in ("maxpool", "avgpool"):
            k = draw(st.integers(1, min(3, h, w)))
            s = draw(st.integers(1, 2))
            ceil = draw(st.booleans())
            lines.append(f"  - {op}: {{name: {name}, kernel: {k}, stride: {s}, ceil_mode: {str(ceil).lower()}}}")
            h, w = _pool_out(h, k, s, ceil), _pool_out(w, k, s, ceil)
        elif op == "batchnorm":
            lines.append(f"  - batchnorm: {{name: {name}}}")
        elif op == "relu":
            lines.append(f"  - relu: {{name: {name}}}")
        elif op == "dropout":
            lines.append(f"  - dropout: {{name: {name}, p: 0.5}}")
        elif op == "residual":
            shortcut = draw(st.sampled_from(["auto", "identity", "zero_pad", "projection"]))
            stride = 1 if shortcut == "identity" else draw(st.integers(1, 2))
            out = c if shortcut == "identity" else c + draw(st.integers(0, 4))
            lines += ["  - residual:", f"      name: {name}", f"      shortcut: {shortcut}", "      body:",
                      f"        - conv: {{out: {out}, kernel: 3, stride: {stride}, padding: 1}}", "        - relu"]
            c, h, w = out, _conv_out(h, 3, stride, 1), _conv_out(w, 3, stride, 1)
            name = f"{name}.add"
        elif op == "parallel":
            a, b = draw(st.integers(1, 6)), draw(st.integers(1, 6))
            lines += ["  - parallel:", f"      name: {name}", "      branches:",
                      f"        left: {{conv: {{out: {a}, kernel: 1}}}}",
                      f"        right: [{{conv: {{out: {b}, kernel: 3, padding: 1}}}}, relu]"]
            c = a + b
            name = f"{name}.concat"
        elif op == "global_avgpool":
            lines.append(f"  - global_avgpool: {{name: {name}}}")
            h = w = 1
        elif op == "shuffle":
            g = draw(st.sampled_from([d for d in (1, 2, 3) if c % d == 0]))
            lines.append(f"  - channel_shuffle: {{name: {name}, groups: {g}}}")
        elif op == "flatten":
            lines.append(f"  - flatten: {{name: {name}}}")
            vector, c = True, c * h * w
        elif op == "linear":
            out = draw(st.integers(1, 32))
            lines.append(f"  - linear: {{name: {name}, out: {out}}}")
            c = out
        expected.append((name, (c,) if vector else (c, h, w)))
    return "\n".join(lines) + "\n", expected
