"""Rendering 'cnncost rf': receptive fields per layer, in every format."""

from __future__ import annotations

from .shown import Section, Shown


def _number(value) -> str:
    """A whole number as itself; a fraction (after upsampling) as 1/2, or to two decimals where that is long."""
    if value == int(value):
        return str(int(value))
    if getattr(value, "denominator", 100) <= 16:
        return f"{value.numerator}/{value.denominator}"
    return f"{float(value):.2f}"


def field_pair(values) -> str:
    if values is None:
        return "-"
    h, w = (_number(v) for v in values)
    return h if h == w else f"{h}x{w}"


HEADERS = ("Layer", "Type", "Receptive field", "Effective stride", "Effective padding", "Note")


def _note(row) -> str:
    f = row.field
    if f is None:
        return ""
    notes = []
    if f.h.stride == 0 and f.w.stride == 0:
        notes.append("global")
    if not f.aligned:
        notes.append("paths disagree")
    if f.bound:
        notes.append("a bound (upsampled)")
    elif not f.uniform:
        notes.append("irregular windows")
    return ", ".join(notes)


def cells(row) -> list[str]:
    f = row.field
    axes = [None] * 3 if f is None else [(getattr(f.h, k), getattr(f.w, k)) for k in ("size", "stride", "padding")]
    return [row.name, row.kind + (" (side)" if row.side else ""), *map(field_pair, axes), _note(row)]


FOOTER = ("Unit i of a layer sees input pixels [i*stride - padding, i*stride - padding + field - 1] on each "
          "axis (padding included). Stride 0: every unit sees the same field (after a global pool, a "
          "squeeze-and-excitation gate or a group norm). 'paths disagree': the merged paths differ in stride or "
          "centre, and the field given is unit 0's. 'a bound': after upsampling, units see fields of different sizes, "
          "all within the one given, whose stride is a fraction (docs/receptive-field.md).")


TOKENS_NOTE = ("Tokens made from a map show no field (a token's has no stride along a map axis); an attention "
               "whose keys are every token gives each unit the whole map's field: global from the first such "
               "attention on.")


VIDEO_NOTE = ("No field is given: the input is a CxTxHxW video clip, and the receptive-field analysis follows 2-D "
              "maps only.")


class FieldsShown(Shown):
    """A results.ReceptiveFields; option ``video``: the input is a clip, and no field is given."""

    def _footer(self) -> list[str]:
        footer = [FOOTER]
        if self.result.local:
            from ..rf import LOCAL_NOTE

            footer.append(LOCAL_NOTE)
        if self.options.get("video"):
            footer.append(VIDEO_NOTE)
        from ..rf import ATTENTION_KINDS

        if any(row.kind in ATTENTION_KINDS for row in self.result.layers):
            footer.append(TOKENS_NOTE)
        return footer

    def sections(self) -> list[Section]:
        rows = self.result.layers
        return [Section(f"{self.result.model}: receptive fields", HEADERS, [cells(r) for r in rows],
                        right={"Receptive field", "Effective stride", "Effective padding"},
                        styles=["dim" if r.side else None for r in rows], wrap={"Layer": 14, "Note": 10},
                        stacked={"Receptive field": "Receptive\nfield", "Effective stride": "Effective\nstride",
                                 "Effective padding": "Effective\npadding"},
                        drop=("Type", "Effective padding"), notes=self._footer())]

    def data(self) -> dict:
        return self.result.to_dict()

    def records(self):
        rows = []
        for r in self.result.layers:
            d = r.to_dict()
            flat = [v for key in ("receptive_field", "effective_stride", "effective_padding")
                    for v in (d[key] or ("", ""))]
            rows.append((r.name, r.kind, *flat, d["aligned"], d["uniform"], d["bound"], str(r.side).lower()))
        return ("name", "type", "rf_h", "rf_w", "stride_h", "stride_w", "padding_h", "padding_w", "aligned",
                "uniform", "bound", "side"), rows
