"""The command line: a thin click layer over cnncost.api.

Every command computes its whole result before writing anything, so a
failure never leaves half a report on stdout; user errors print one line on
stderr and exit with code 2.
"""

from __future__ import annotations

import atexit
import functools
import gc
import os
import sys
from dataclasses import replace
from typing import TYPE_CHECKING, Any, NoReturn, Sequence

import click

from . import __version__, api, conventions, yamlio, zoo
from .errors import CnnCostError, did_you_mean, one_line, terminal_text
from .render.formats import FORMATS, format_of_file, render
from .report import Settings, parse_input as parse_shape

if TYPE_CHECKING:  # rich's progress bar is imported only where it is shown
    import rich.progress

EXIT_USAGE = 2


class FormatChoice(click.Choice):
    """--format's choices: the formats registered when the command runs (render/formats.py FORMATS)."""

    def __init__(self) -> None:
        super().__init__(())

    @property
    def choices(self):
        return tuple(FORMATS)

    @choices.setter
    def choices(self, value) -> None:  # click's __init__ assigns it; the registry is the only source
        pass

# At exit CPython runs full garbage collections over every object still alive, a
# tenth of a short command's time; frozen objects are skipped (reference counting
# still frees them). Registered once, and only run when the process ends.
atexit.register(gc.freeze)


def fail(message: str, code: int = EXIT_USAGE):
    """One line on stderr, whatever the message holds, and exit with code."""
    line = f"cnncost: error: {one_line(message) or 'unknown error'}\n"
    try:
        sys.stderr.write(line)
        sys.stderr.flush()
    except (AttributeError, OSError, ValueError):  # stderr closed or failing: the exit code still tells
        pass
    sys.exit(code)


def parse_input(text: str | None):
    if text is None:
        return None
    try:
        return parse_shape(text)
    except CnnCostError:
        raise CnnCostError(f"--input '{text}' must be three positive integers CxHxW, e.g. 3x224x224, or four CxTxHxW "
                           "for a video clip") from None


def parse_sets(pairs) -> dict:
    values = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise CnnCostError(f"--set '{pair}' must be name=value, e.g. --set classes=10")
        values[key.strip()] = yamlio.load_value(raw, f"--set {key.strip()}") if raw.strip() else ""
    return values


def handle_errors(command):
    """One error path: CnnCostError -> one line and exit 2; no traceback unless --debug."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        debug = click.get_current_context().find_root().params.get("debug")
        try:
            return command(*args, **kwargs)
        except CnnCostError as exc:
            if debug:
                raise
            fail(str(exc), code=exc.exit_code)
        except BrokenPipeError:
            # the reader went away (| head): not an error for a Unix filter
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            sys.exit(0)
        except RecursionError:
            if debug:
                raise
            fail("the network is nested too deeply to expand")
        except (click.ClickException, click.exceptions.Exit, click.Abort, SystemExit):
            raise
        except MemoryError:
            if debug:
                raise
            fail("out of memory (please report the input that caused it: cnncost bounds the work any input "
                 "may cause, docs/security.md)", code=1)
        except Exception as exc:  # a bug in cnncost: still no traceback unless asked
            if debug:
                raise
            fail(f"internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback, and please "
                 "report it)", code=1)

    return wrapper


def emit(text: str, output: str | None, fmt: str = "table"):
    """Write all of text to stdout or, atomically, to a file (cnncost/output.py). Every format but JSON (which
    keeps each string exactly, escaped as JSON escapes it) has its control characters escaped: a name from a
    file must not drive the terminal (errors.terminal_text)."""
    from . import output as out

    form = FORMATS.get(fmt)  # None: a text of its own, such as import's YAML
    if form is None or form.escaped:
        text = terminal_text(text, styles=form is not None and form.styled and use_color(output))
    if output is None or output == "-":
        out.write_stdout(text)
    else:
        out.write_text(output, text)


def model_options(command=None, *, omit=()):
    """The options every command that analyses a model shares, given to it as one ``settings`` value;
    ``omit`` names those that change nothing the command shows (``@model_options(omit=("dtype",))``)."""
    if command is None:
        return lambda command: model_options(command, omit=omit)
    options = [
        click.option("--input", "input_shape", metavar="CxHxW", help="Input size per sample, e.g. 3x224x224."),
        click.option("--set", "sets", multiple=True, metavar="NAME=VALUE",
                     help="Override a model parameter (repeatable), e.g. --set classes=10."),
        click.option("--batch", type=click.IntRange(min=1), default=1, show_default=True,
                     help="Batch size: scales MACs, FLOPs and memory."),
        click.option("--dtype", default="float32", show_default=True,
                     help="Element type for memory: float32, float16, bfloat16, float64, int8."),
        click.option("--convention", type=click.Choice(list(conventions.CONVENTIONS)),
                     default=conventions.DEFAULT, show_default=True,
                     help="Counting convention: cnncost's lecture or torchvision, or a peer tool's "
                          "(docs/conventions.md)."),
        click.option("--side/--no-side", "include_side", default=False,
                     help="Include side outputs (auxiliary classifiers) in the totals."),
    ]

    @functools.wraps(command)
    @handle_errors
    def with_settings(*args, input_shape, sets, batch=1, dtype="float32", convention=conventions.DEFAULT,
                      include_side=False, **kwargs):
        settings = Settings(batch=batch, dtype=dtype, convention=convention, include_side=include_side,
                            set=parse_sets(sets), input=parse_input(input_shape))
        return command(*args, settings=settings, **kwargs)

    names = {"--batch": "batch", "--dtype": "dtype", "--convention": "convention", "--side": "side"}
    for option in reversed(options):
        # click keeps a decorator's options on the function it decorates; its stubs do not declare them
        declared = option(lambda: None).__click_params__[0].opts[0]  # type: ignore[attr-defined]
        if names.get(declared) in omit:
            continue
        with_settings = option(with_settings)
    return with_settings


def training_options(command):
    """--pass and --freeze: a training step's backward MACs (docs/training.md), folded into ``settings``."""
    options = [
        click.option("--pass", "pass_", type=click.Choice(("forward", "train")), default="forward",
                     show_default=True,
                     help="forward, or train: add each layer's backward MACs (the input's and the weights' "
                          "gradients) as the convention counts them (docs/training.md)."),
        click.option("--freeze", multiple=True, metavar="REGEX",
                     help="With --pass train: layers whose names match REGEX from their start (re.match) are "
                          "frozen: no weight gradient, and no input gradient before the first trainable layer "
                          "(repeatable)."),
    ]

    @functools.wraps(command)
    def with_pass(*args, settings, pass_, freeze, **kwargs):
        if freeze and pass_ != "train":
            raise CnnCostError("--freeze changes a training step: give it with --pass train")
        return command(*args, settings=settings.replace(pass_=pass_, freeze=tuple(freeze)), **kwargs)

    for option in reversed(options):
        with_pass = option(with_pass)
    return with_pass


def format_for(fmt: str | None, output: str | None) -> str:
    """The format asked for: --format when given, else the one -o FILE's extension names, else table."""
    if fmt is not None:
        return fmt
    if output is None or output == "-":
        return "table"
    return format_of_file(output)  # -o FILE's extension names the format; anything else is the text table


def output_options(command):
    """--format and -o FILE; the command gets ``fmt`` already resolved (format_for)."""
    options = [
        click.option("--format", "fmt", type=FormatChoice(), default=None,
                     help="Output format [default: from -o FILE's extension (.csv, .json, .md), else table]."),
        click.option("-o", "--output", metavar="FILE", help="Write to FILE (atomically) instead of stdout."),
        click.option("--wide", is_flag=True, help="Every column, nothing wrapped, whatever the terminal's width."),
    ]

    @functools.wraps(command)
    def with_format(*args, fmt, output, wide, **kwargs):
        click.get_current_context().meta["cnncost.wide"] = wide
        return command(*args, fmt=format_for(fmt, output), output=output, **kwargs)

    for option in reversed(options):
        with_format = option(with_format)
    return with_format


def analyze_model(model: str, settings: Settings):
    if model == "-":  # a network piped in on stdin
        report = api.analyze_text(yamlio.read_stdin(), name="<stdin>", settings=settings)
    else:
        report = api.analyze(model, settings)
    warn_if_partial(report.graph, model)
    return report


def load_model(model: str, settings: Settings):
    """MODEL expanded into a graph: a zoo name, a file, or - for a network on stdin."""
    if model == "-":
        graph = api.load_text(yamlio.read_stdin(), "<stdin>", settings)
    else:
        graph = api.load(model, settings)
    warn_if_partial(graph, model)
    return graph


def warn_if_partial(graph, model: str) -> None:
    """A partial import (opaque rows) says on stderr, whatever the format, that its totals are lower bounds."""
    missing = graph.unsupported() if graph is not None else []
    if missing:
        from .render.columns import partial_line

        from .errors import one_line

        click.echo(one_line(f"cnncost: {model}: {partial_line(missing)}"), err=True)


def one_stdin(models) -> None:
    """stdin can be read once: at most one MODEL may be -."""
    if list(models).count("-") > 1:
        raise CnnCostError("stdin (-) can be given as one MODEL only: it is read once")


def use_color(output) -> bool:
    return output in (None, "-") and sys.stdout is not None and sys.stdout.isatty() and "NO_COLOR" not in os.environ


def terminal_width(output, wide: bool = False) -> int | None:
    """The columns a table must fit when stdout is a terminal: COLUMNS when set, else the terminal's.
    None (the whole table) with --wide, for a file, and for a pipe, whatever COLUMNS says: shells and CI
    jobs export it, and output read by a program must be whole."""
    context = click.get_current_context(silent=True)
    if context is not None and context.meta.get("cnncost.wide"):
        wide = True
    if wide or output not in (None, "-") or sys.stdout is None:
        return None
    try:
        if not sys.stdout.isatty():
            return None
        columns = os.environ.get("COLUMNS", "").strip()
        if columns.isdigit() and int(columns) > 0:
            return int(columns)
        return os.get_terminal_size(sys.stdout.fileno()).columns or None
    except (AttributeError, OSError, ValueError):  # no real file behind stdout
        return None


class CnnCostGroup(click.Group):
    """Click's usage errors, reworded as the single line every other error is."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> NoReturn:
        # standalone_mode is ignored: an error is always the one line below, and the exit code is always set
        try:
            code = super().main(args, prog_name or "cnncost", complete_var, standalone_mode=False, **extra)
        except click.ClickException as exc:
            fail(exc.format_message(), code=EXIT_USAGE if isinstance(exc, click.UsageError) else exc.exit_code)
        except click.Abort:
            fail("aborted", code=130)
        sys.exit(code if isinstance(code, int) else 0)


@click.group(cls=CnnCostGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="cnncost")
@click.option("--debug", is_flag=True, help="Show Python tracebacks for errors.")
def main(debug):
    """What a convolutional network costs, before you run it.

    For every layer and in total: output shape, activation memory, learnable
    parameters, MACs and FLOPs, computed analytically from a YAML description.
    """


@main.command()
@click.argument("model")
@model_options
@output_options
@click.option("--depth", type=click.IntRange(min=1), help="Show subtotals per block, N levels of names deep.")
@click.option("--exact", is_flag=True, help="Show params and MACs as exact integers, not in k and M.")
@click.option("--rf", "with_rf", is_flag=True, help="Add each layer's receptive field and effective stride.")
@click.option("--fold/--no-fold", default=False, show_default=True,
              help="Show each in-place layer (activation, dropout, batch norm) in the row of the layer it follows, "
                   "its figures added there.")
@click.option("--share", is_flag=True, help="Add each row's share of the total memory, params and MACs (%).")
@click.option("--sort", "sort_by", type=click.Choice(("macs", "params", "memory")),
              help="List the rows by this figure, largest first (adds --share).")
@click.option("--top", type=click.IntRange(min=1), metavar="N",
              help="Show only the N rows that cost the most, by --sort (default: MACs).")
@click.option("--notes/--no-notes", default=True, show_default=True,
              help="The published errata about the model and the model's own notes, under the table.")
@training_options
@handle_errors
def table(model, settings, fmt, output, depth, exact, with_rf, fold, share, sort_by, top, notes):
    """Per-layer costs of MODEL: a zoo name (see 'cnncost list'), a YAML file, or - for stdin.

    On a terminal the table fits its width: it leaves out or merges columns in a
    stated order (H/W in, Cin, K/S/P merged, names wrapped, Type, ...) and never
    cuts a number; --wide shows it whole. Piped or written to a file it is whole.
    """
    from .render.rows import layer_view

    report = analyze_model(model, settings)
    errata = published_errata(model, report) if notes and fmt in ("table", "markdown") else ()
    fields = None
    if with_rf:
        from .rf import receptive_fields

        fields = {row.name: row for row in receptive_fields(report.graph)}
        if depth:  # a group's field is its last layer's
            for row in report.layers:
                fields[".".join(row.name.split(".")[:depth])] = fields[row.name]
    view = layer_view(report, depth=depth, fold=fold, sort=sort_by, top=top, share=share, notes=errata,
                      model_notes=notes, exact=exact, color=use_color(output), width=terminal_width(output),
                      fields=fields)
    emit(render(view, fmt), output, fmt)


def published_errata(model, report) -> tuple:
    """The claims registry's errata about this model, printed for these settings, for under the table."""
    try:
        if not errata_name(model):
            return ()
        from . import claims

        return tuple(claims.errata_notes(model, report))
    except CnnCostError:  # a broken registry is 'cnncost check''s to report, not the table's
        return ()


def errata_name(model) -> bool:
    """Whether any erratum in the registry's parsed files is about model's file (as claims._identity
    compares them). Importing and reading the registry as claims does costs 20-30 ms, a quarter of a
    table's run; this look at the raw claims costs about 2 ms. It may say yes where claims finds none
    to show."""
    try:
        me = os.path.realpath(zoo.file_of(model))
    except CnnCostError:
        return False
    folder = os.path.join(os.path.dirname(os.path.realpath(__file__)), "data", "claims")
    named: set[str] = set()  # the models that errata are about, as the registry names them
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if not name.endswith(".yaml"):
            continue
        with open(path, encoding="utf-8", errors="replace") as f:
            if "erratum" not in f.read():  # (from_published adds only claims expected to reproduce)
                continue
        doc = yamlio.load_file(path) or {}
        if not isinstance(doc, dict) or set(doc.get("defaults") or {}) & {"model", "expected"}:
            return True  # not the form looked for here: claims decides
        named.update(str(raw["model"]) for raw in doc.get("claims") or ()
                     if isinstance(raw, dict) and raw.get("expected") == "erratum" and raw.get("model") is not None)
    if model in named:
        return True
    for other in named:
        try:
            if os.path.realpath(zoo.file_of(other)) == me:
                return True
        except CnnCostError:
            pass
    return False


@main.command(name="explain")
@click.argument("model")
@model_options(omit=("dtype", "convention"))
@training_options
@output_options
@handle_errors
def explain_conventions(model, settings, fmt, output):
    """Why the counting tools disagree on MODEL: every convention's totals side by side, and per layer
    kind what each counts beyond the torchvision figure (docs/conventions.md)."""
    from .explain import explain

    graph = api.load_text(yamlio.read_stdin(), "<stdin>", settings) if model == "-" else api.load(model, settings)
    emit(render(explain(graph, settings), fmt, color=use_color(output),
                            width=terminal_width(output)), output, fmt)


@main.command(name="memory")
@click.argument("model")
@model_options(omit=("convention",))
@output_options
@click.option("--mode", type=click.Choice(("train", "infer")), default="train", show_default=True,
              help="Training (weights, gradients, optimizer state, saved activations) or inference.")
@click.option("--optimizer", default="sgd", show_default=True, metavar="NAME",
              help="sgd (no state), momentum (1 copy of the weights) or adam/adamw (2 copies).")
@click.option("--amp", is_flag=True, help="Mixed precision: fp32 master weights, gradients and optimizer state; "
                                          "--dtype is the working precision (float16 or bfloat16).")
@click.option("--device", "device_names", multiple=True, metavar="NAME",
              help="A device of 'cnncost devices' (repeatable): does it fit, the largest batch, devices needed.")
@click.option("--device-file", metavar="FILE", help="A YAML file of your own devices (the form of 'cnncost devices').")
@click.option("--exact", is_flag=True, help="Show exact integers (bytes, counts), not KiB/MiB/GiB and k/M/G.")
@click.option("--freeze", multiple=True, metavar="REGEX",
              help="Layers whose names match REGEX from their start (re.match) are frozen: no gradient or optimizer "
                   "state, and what autograd saves changes (repeatable; docs/training.md).")
@click.option("--checkpoint", metavar="N|REGEX",
              help="Activation checkpointing: N segments (as checkpoint_sequential), or blocks: layers whose names "
                   "match REGEX with the same matched text are one block. Adds the recomputation's cost.")
@click.option("--gpus", type=click.IntRange(min=1, max=1024), default=1, show_default=True,
              help="Devices training together; the figures are one device's (with --parallel).")
@click.option("--parallel", type=click.Choice(("data", "model")),
              help="data: each device the whole model and batch/N samples (DDP); model: each device 1/N of every "
                   "layer's filters, as AlexNet's two-GPU split.")
@handle_errors
def memory_command(model, settings, fmt, output, mode, optimizer, amp, device_names, device_file, exact, freeze,
                   checkpoint, gpus, parallel):
    """Training or inference memory of MODEL: weights, gradients, optimizer state, what autograd saves,
    the peak, and whether it fits on each --device (docs/memory.md)."""
    from . import devices, memory

    known = devices.table(device_file) if device_names or device_file else {}
    chosen = tuple(devices.get(name, known) for name in device_names)
    memory.check_optimizer(optimizer)
    graph = api.load_text(yamlio.read_stdin(), "<stdin>", settings) if model == "-" else api.load(model, settings)
    if checkpoint is not None and checkpoint.strip().isdigit():
        checkpoint = int(checkpoint)
    result = memory.analyze_memory(graph, settings.replace(freeze=tuple(freeze)), mode=mode, optimizer=optimizer,
                                   amp=amp, devices=chosen, checkpoint=checkpoint, gpus=gpus, parallel=parallel)
    emit(render(result, fmt, color=use_color(output),
                       width=terminal_width(output), exact=exact), output, fmt)


@main.command(name="rf")
@click.argument("model")
@model_options(omit=("batch", "dtype", "convention", "side"))
@output_options
@click.option("--local", is_flag=True, help="The conventional field of the conv and pool paths, as papers quote it: "
                                            "global statistics (group norm, squeeze-and-excitation gates) left out.")
@handle_errors
def receptive_field(model, settings, fmt, output, local):
    """Receptive field of every layer of MODEL: its size, effective stride and padding, per axis
    (docs/receptive-field.md)."""
    from .results import ReceptiveFields
    from .rf import receptive_fields

    graph = api.load_text(yamlio.read_stdin(), "<stdin>", settings) if model == "-" else api.load(model, settings)
    fields = ReceptiveFields(graph.name, tuple(receptive_fields(graph, local=local)), local=local)
    emit(render(fields, fmt, color=use_color(output), width=terminal_width(output),
                video=len(graph.input_shape) == 4), output, fmt)


@main.command(name="latency")
@click.argument("model")
@model_options(omit=("convention",))
@output_options
@click.option("--device", "device_name", required=True, metavar="NAME",
              help="A device of 'cnncost devices', or local (this machine, after 'cnncost calibrate').")
@click.option("--device-file", metavar="FILE", help="A YAML file of your own devices (the form of 'cnncost devices').")
@click.option("--fuse", is_flag=True, help="Run batch norm and activations inside the conv or linear before them.")
@click.option("--overhead-us", type=click.FloatRange(min=0), default=0.0, show_default=True, metavar="US",
              help="A fixed cost per layer, e.g. a kernel launch, in microseconds.")
@click.option("--exact", is_flag=True,
              help="Show exact integers (bytes, counts), not KiB/MiB/GiB and k/M/G; times in seconds.")
@handle_errors
def latency_command(model, settings, fmt, output, device_name, device_file, fuse, overhead_us, exact):
    """Roofline latency of MODEL on a device: per layer, FLOPs, bytes read and written, arithmetic intensity,
    max(FLOPs / peak, bytes / bandwidth) and which bound it is (docs/latency.md)."""
    from . import devices
    from .latency import roofline

    device = devices.get(device_name, devices.table(device_file))
    graph = api.load_text(yamlio.read_stdin(), "<stdin>", settings) if model == "-" else api.load(model, settings)
    result = roofline(graph, settings, device, fuse=fuse, overhead_s=overhead_us * 1e-6)
    emit(render(result, fmt, color=use_color(output),
                        width=terminal_width(output), exact=exact), output, fmt)


@main.command(name="calibrate")
@handle_errors
def calibrate_command():
    """Measure this machine's CPU (FP32 matrix products and memory bandwidth, in at most 30 s) and keep it as
    the device 'local' for 'cnncost latency --device local' (docs/latency.md)."""
    from rich.console import Console

    from . import calibrate

    calibrate.check_destination()  # before 30 s of measuring, not after
    console = Console(stderr=True, highlight=False)
    if console.is_terminal:
        with console.status("calibrating") as status:
            entry = calibrate.measure(lambda text: status.update(f"calibrating: {text}"))
    else:
        entry = calibrate.measure(lambda text: console.print(f"calibrate: {text}", markup=False))
    path = calibrate.write(entry)
    click.echo(f"{entry['name']}: {entry['peak_tflops']['fp32']:g} TFLOP/s (FP32 matrix products), "
               f"{entry['bandwidth_gb_s']:g} GB/s; written to {path}")


def plot_style_options(command):
    """--dpi, --size, --title and --font-size, given to the command as one ``style`` (cnncost.plot.Style)."""
    options = [
        click.option("--dpi", type=click.FloatRange(min=10, max=1200), default=150, show_default=True,
                     help="Pixels per inch of a .png."),
        click.option("--size", "fig_size", metavar="WxH", help="Figure size in inches, e.g. 7x4 (default: the "
                                                                "figure's own)."),
        click.option("--title", metavar="TEXT", help="The figure's title instead of its own ('' for none)."),
        click.option("--font-size", type=click.FloatRange(min=3, max=72), default=9, show_default=True,
                     metavar="PT", help="Base font size in points."),
    ]

    @functools.wraps(command)
    def with_style(*args, dpi, fig_size, title, font_size, **kwargs):
        from .plot import Style

        return command(*args, style=Style(dpi=dpi, size=fig_size, title=title, font_size=font_size), **kwargs)

    for option in reversed(options):
        with_style = option(with_style)
    return with_style


def comma_list(values) -> tuple:
    """Repeated or comma-separated option values, as one tuple."""
    return tuple(v.strip() for text in values for v in text.split(",") if v.strip())


@main.command(name="sweep")
@click.argument("model")
@click.option("--input", "inputs", multiple=True, metavar="CxHxW,...",
              help="Input sizes: a list (3x128x128,3x160x160), ranges (3x{128..512..32}), CxS for square S x S.")
@click.option("--set", "sets", multiple=True, metavar="NAME=V1,V2",
              help="A model parameter's values (repeatable), e.g. --set alpha=0.25,0.5,0.75,1.0.")
@click.option("--batch", "batches", multiple=True, metavar="N,...", help="Batch sizes, e.g. 1,8,64.")
@click.option("--dtype", "dtypes", multiple=True, metavar="NAME,...", help="Element types, e.g. float32,bfloat16.")
@click.option("--convention", "conventions_", multiple=True, metavar="NAME,...",
              help="Counting conventions, e.g. lecture,torchvision,fvcore.")
@click.option("--device", "device_names", multiple=True, metavar="NAME,...",
              help="Devices (for --latency, and --memory's largest batch): names of 'cnncost devices'.")
@click.option("--side/--no-side", "include_side", default=False, help="Include side outputs in the totals.")
@click.option("--memory", "with_memory", is_flag=True, help="Add the training peak (cnncost memory) at each point.")
@click.option("--optimizer", default="sgd", show_default=True, help="With --memory: sgd, momentum, adam or adamw.")
@click.option("--latency", "with_latency", is_flag=True, help="Add the roofline latency on each --device.")
@click.option("--plot", "plot_file", metavar="FILE",
              help="Also draw each figure against the swept axis (.png, .svg or .pdf).")
@click.option("--exact", is_flag=True, help="Show exact integers (bytes, counts) and seconds, not KiB/MiB/GiB, "
                                            "k/M/G and ms/µs.")
@click.option("--pass", "pass_", type=click.Choice(("forward", "train")), default="forward", show_default=True,
              help="train: add each point's backward and training-step MACs (docs/training.md).")
@click.option("--freeze", multiple=True, metavar="REGEX",
              help="With --pass train: freeze the layers whose names match REGEX (re.match; repeatable).")
@output_options
@handle_errors
@plot_style_options
def sweep_command(model, inputs, sets, batches, dtypes, conventions_, device_names, include_side, with_memory,
                  optimizer, with_latency, plot_file, exact, pass_, freeze, style, fmt, output):
    """Totals of MODEL over the product of the given axes: model parameters, input, batch, dtype, convention
    and device. Each row: params, MACs, FLOPs and activation memory (and training memory or latency)."""
    from . import devices, sweep

    if with_memory:
        from .memory import check_optimizer

        check_optimizer(optimizer)
    if plot_file is not None:
        from .plot import check_path

        check_path(plot_file)
    axes = sweep.axes_from(
        sweep.parameter_values(sets), sweep.input_values(inputs), sweep.list_values(batches, "--batch",
                                                                                    sweep.batch_value),
        [Settings(dtype=d).dtype for d in sweep.list_values(dtypes, "--dtype")],
        [conventions.get(c).name for c in sweep.list_values(conventions_, "--convention")],
        sweep.list_values(device_names, "--device"))
    table = devices.table()
    for name in sweep.list_values(device_names, "--device"):
        devices.get(name, table)  # an unknown device is one error up front
    text = yamlio.read_stdin() if model == "-" else None
    total = 1
    for axis in axes:
        total *= len(axis.values)
    with SweepProgress(total) as progress:
        if freeze and pass_ != "train":
            raise CnnCostError("--freeze changes a training step: give it with --pass train")
        base = Settings(include_side=include_side, pass_=pass_, freeze=tuple(freeze))
        result = sweep.sweep(model, axes, base, memory=with_memory,
                             optimizer=optimizer, latency=with_latency, device_table=table, on_point=progress.step,
                             text=text)
    if plot_file is not None:
        from .plot import draw_sweep

        draw_sweep(result, plot_file, style)
    emit(render(result, fmt, color=use_color(output), width=terminal_width(output), exact=exact), output, fmt)
    failed = [p for p in result.points if p.error]
    if failed:
        click.echo(f"cnncost: {len(failed):,} of {len(result.points):,} points could not be costed; the first: "
                   f"{one_line(failed[0].error)}", err=True)


class SweepProgress:
    """A progress bar on a terminal's stderr for a long sweep; nothing otherwise."""

    LONG = 2000

    def __init__(self, total: int):
        self.total = total
        self.bar: rich.progress.Progress | None = None

    def __enter__(self):
        from rich.console import Console

        console = Console(stderr=True)
        if self.total >= self.LONG and console.is_terminal:
            from rich import progress

            self.bar = progress.Progress(progress.TextColumn("sweeping"), progress.BarColumn(),
                                         progress.MofNCompleteColumn(), progress.TimeElapsedColumn(),
                                         console=console, transient=True)
            self.bar.__enter__()
            self.task = self.bar.add_task("", total=self.total)
        return self

    def step(self, number: int):
        if self.bar is not None and number % 100 == 99:
            self.bar.update(self.task, completed=number + 1)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(*exc)
        return False


@main.command(name="plot")
@click.argument("model", required=False)
@click.option("-o", "--output", required=True, metavar="FILE", help="The figure to write: .png, .svg or .pdf.")
@click.option("--landscape", is_flag=True,
              help="The zoo: ImageNet top-1 against GMACs, marker area for parameters (the lecture's Fig 8.18).")
@click.option("--depth", type=click.IntRange(min=1), help="Bars per block, N levels of names deep.")
@click.option("--only", "only", multiple=True, metavar="KIND,...",
              help="Bars for the layers of these kinds only, e.g. conv,linear (default: every layer with a cost).")
@click.option("--models", "models", multiple=True, metavar="NAME,...", help="With --landscape: these models only.")
@click.option("--family", "families", multiple=True, metavar="NAME,...",
              help="With --landscape: these families only (resnet, mobilenet, efficientnet, ...).")
@model_options
@handle_errors
@plot_style_options
def plot_command(model, output, landscape, depth, only, models, families, style, settings):
    """Draw MODEL's activation memory, parameters and MACs per layer (the lecture's Fig 8.2), or with
    --landscape the zoo's accuracy against operations (needs: pip install 'cnncost[plot]')."""
    from . import plot

    plot.check_path(output)
    if landscape:
        if model is not None:
            raise CnnCostError("--landscape draws the zoo: give no MODEL (choose with --models and --family)")
        if only or depth:
            raise CnnCostError("--only and --depth are for a model's bars, not --landscape")
        plot.draw_landscape(plot.landscape_data(comma_list(models), comma_list(families)), output, style)
        return
    if model is None:
        raise CnnCostError("give a MODEL to plot, or --landscape for the zoo")
    if models or families:
        raise CnnCostError("--models and --family choose what --landscape draws")
    plot.draw_layers(plot.layers_data(analyze_model(model, settings), depth, comma_list(only)), output, style)


@main.command(name="graph")
@click.argument("model")
@click.option("-o", "--output", required=True, metavar="FILE",
              help="The drawing to write, in the format its extension names: .dot (Graphviz source; - for "
                   "stdout), .svg, .png or .pdf (drawn by Graphviz's dot), .html (one offline page: pan, zoom, "
                   "collapse blocks).")
@click.option("--color", "color", type=click.Choice(("macs", "params", "memory", "saved", "rf")), default="macs",
              show_default=True, help="The figure on each box and its fill: MACs, parameters, activation memory, "
                                      "memory saved for backward in training, receptive field.")
@click.option("--depth", type=click.IntRange(min=1), metavar="N",
              help="Draw each block N levels of names deep as one box (as table --depth groups rows).")
@click.option("--dpi", type=click.FloatRange(min=10, max=1200), metavar="DPI", help="Resolution of a .png.")
@model_options
def graph_command(model, output, color, depth, dpi, settings):
    """Draw MODEL as a graph: each layer a box with its name, kind, output shape and one figure."""
    from . import diagram

    diagram.check_path(output)
    diagram.write(analyze_model(model, settings), output, color=color, depth=depth, dpi=dpi)


@main.command(name="devices")
@output_options
@click.option("--device-file", metavar="FILE", help="Also list the devices of your own YAML file.")
@handle_errors
def list_devices(fmt, output, device_file):
    """The devices 'cnncost memory --device' knows: memory, bandwidth and peak rates, from the vendors' sheets."""
    from . import devices
    from .render.memory import DevicesShown

    emit(render(DevicesShown(devices.table(device_file), color=use_color(output), width=terminal_width(output)), fmt),
         output, fmt)


@main.command(name="kinds")
@click.argument("kind", required=False)
@click.option("--format", "fmt", type=click.Choice(("table", "json", "markdown")), default="table", show_default=True,
              help="Output format.")
@handle_errors
def list_kinds(kind, fmt):
    """The layer kinds a YAML file can use, with their arguments (or one KIND in detail)."""
    from .render.kinds import KindList, kinds_named

    emit(render(KindList(kinds_named(kind), one=kind is not None, width=terminal_width(None)), fmt), None, fmt)


@main.command(name="list")
@output_options
@handle_errors
def list_models(fmt, output):
    """The architectures that ship with cnncost."""
    from .render.zoo_list import ZooList

    emit(render(ZooList(zoo_summaries(), color=use_color(output), width=terminal_width(output)), fmt), output, fmt)


def zoo_summaries():
    rows = []
    for name in zoo.names():
        report = api.analyze(name)
        rows.append((name, report))
    return rows


@main.command(name="compare")
@click.argument("models", nargs=-1, required=True, metavar="MODEL MODEL [MODEL]...")
@click.option("--until-resolution", type=click.IntRange(min=1), metavar="N",
              help="Cut each stem after its first layer whose output is at or below NxN (default 28).")
@click.option("--until", metavar="LAYER", help="Cut each stem after LAYER (a layer or scope name every model has).")
@click.option("--baseline", metavar="MODEL", help="The model the ratios divide by (default: the last MODEL).")
@click.option("--exact", is_flag=True, help="Show exact integers, not k, M and G.")
@model_options
@training_options
@output_options
@handle_errors
def compare_models(models, until_resolution, until, baseline, exact, settings, fmt, output):
    """MODELs side by side: memory, params, MACs, FLOPs and their ratios, whole and for their stems.

    A stem runs from the input to the first layer whose output is at or below
    28x28 (--until-resolution N, or --until LAYER, for another cut); a model
    that never gets that small is compared whole only, with a line saying so.
    Published figures about these stems (cnncost check) are listed under the
    tables. One MODEL may be - for a network on stdin.
    """
    from .compare import compare

    one_stdin(models)
    chosen = [load_model(m, settings) if m == "-" else m for m in models]  # a graph is labelled by its name
    if baseline == "-" and "-" in models:
        baseline = chosen[models.index("-")].name
    comparison = compare(chosen, settings, until_resolution=until_resolution, until=until, baseline=baseline)
    emit(render(comparison, fmt, exact=exact, color=use_color(output),
                           width=terminal_width(output)), output, fmt)


@main.command(name="info")
@click.argument("model")
@click.option("--format", "fmt", type=click.Choice(("table", "json")), default=None,
              help="Output format [default: json for -o FILE.json, else table].")
@click.option("-o", "--output", metavar="FILE", help="Write to FILE (atomically) instead of stdout.")
@click.option("--convention", type=click.Choice(list(conventions.CONVENTIONS)), default=conventions.DEFAULT,
              show_default=True, help="The convention of the totals at the defaults.")
@handle_errors
def info_command(model, fmt, output, convention):
    """What MODEL is: its description, references, parameters (defaults, choices, docs), default input,
    totals at its defaults, and the figures published about it. MODEL may be - for stdin."""
    from .info import model_info

    fmt = "json" if format_for(fmt, output) == "json" else "table"
    from .pymodel import is_python_model

    if is_python_model(model):
        raise CnnCostError(f"info describes a zoo model or a YAML file; for the PyTorch model {model}, run "
                           f"'cnncost table {model} --input CxHxW'")
    settings = Settings(convention=convention)
    if model == "-":
        info = model_info("<stdin>", settings, text=yamlio.read_stdin())
    else:
        info = model_info(model, settings)
    emit(render(info, fmt, width=terminal_width(output)), output, fmt)


@main.command(name="budget")
@click.argument("model")
@click.option("--max-params", metavar="N", help="The most parameters, e.g. 5M (k, M, G: powers of 1000).")
@click.option("--max-macs", metavar="N", help="The most MACs for the batch, e.g. 600M.")
@click.option("--max-flops", metavar="N", help="The most FLOPs for the batch, e.g. 1.2G.")
@click.option("--max-memory", metavar="SIZE",
              help="The most activation memory (the table's Memory total, for --batch and --dtype), e.g. 64MiB "
                   "(KiB, MiB, GiB: powers of 1024; KB, MB, GB: powers of 1000; a bare number is bytes).")
@click.option("--allow-partial", is_flag=True,
              help="Judge a partial import (opaque rows, totals lower bounds) too; refused by default.")
@model_options
@training_options
@output_options
@handle_errors
def budget_command(model, max_params, max_macs, max_flops, max_memory, allow_partial, settings, fmt, output):
    """A CI gate: exit 1, with one line per limit exceeded, when MODEL's totals exceed any --max-* limit;
    exit 0 with one line when it is within all of them (docs/budget.md). MODEL may be - for stdin."""
    from . import budget

    limits = {"params": max_params, "macs": max_macs, "flops": max_flops, "memory": max_memory}
    if all(v is None for v in limits.values()):
        raise CnnCostError("give at least one limit: --max-params, --max-macs, --max-flops or --max-memory")
    for figure, text in limits.items():  # a bad limit is an error before the model is read
        if text is not None:
            (budget.parse_bytes if figure == "memory" else budget.parse_count)(text, f"--max-{figure}")
    report = analyze_model(model, settings)
    if report.unsupported() and not allow_partial:
        count = sum(m["count"] for m in report.unsupported())
        raise CnnCostError(f"a partial import ({count} operator{'s' if count != 1 else ''} counted as 0): its totals "
                           "are lower bounds, which a budget cannot pass", hint="--allow-partial judges it anyway")
    result = budget.check(report, limits, model="<stdin>" if model == "-" else model)
    emit(render(result, fmt), output, fmt)
    if not result.ok:
        sys.exit(1)


@main.command(name="check")
@click.argument("models", nargs=-1, metavar="[MODEL]...")
@click.option("--model-file", "model_files", multiple=True, metavar="MODEL=FILE",
              help="Evaluate the claims about zoo MODEL against FILE instead (repeatable).")
@click.option("--explain", is_flag=True, help="Show each erratum's explanation in the table.")
@output_options
@handle_errors
def check_claims(models, model_files, explain, fmt, output):
    """Evaluate every published claim (lecture, papers, torchvision) against the networks.

    Only the claims about MODELs when given. Exits 1 when a claim expected to
    reproduce does not, or an erratum's figure moves (docs/claims.md).
    """
    from . import claims
    from .render.claims import Checked

    files = {}
    for pair in model_files:
        name, sep, path = pair.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise CnnCostError(f"--model-file '{pair}' must be MODEL=FILE, e.g. --model-file vgg16=my_vgg16.yaml")
        if not os.path.isfile(path):
            raise CnnCostError(f"--model-file {pair}: no such file '{path}'")
        if name.strip() not in zoo.names():
            raise CnnCostError(f"--model-file {pair}: '{name.strip()}' is not a zoo model",
                               hint=did_you_mean(name.strip(), zoo.names()))
        api.load(path.strip())  # a broken file is the user's one-line error, not a failed claim per figure
        files[name.strip()] = path.strip()
    chosen = claims.load()
    if models:
        chosen = claims.about(chosen, models)
        if not chosen:
            raise CnnCostError("no claims about " + ", ".join(models) + " in the registry")
    results = claims.evaluate(chosen, model_files=files)
    emit(render(Checked(results, explain=explain, color=use_color(output), width=terminal_width(output)), fmt),
         output, fmt)
    if not all(r.ok for r in results):
        sys.exit(1)


@main.command()
@click.argument("models", nargs=-1, metavar="[MODEL]...")
@click.option("--all", "all_models", is_flag=True, help="Validate every architecture in the zoo.")
@click.option("--device", type=click.Choice(("auto", "cpu", "cuda")), default="cpu", show_default=True,
              help="Where torch runs the network; auto picks a GPU when there is one.")
@click.option("--memory", "check_memory", is_flag=True,
              help="Check memory instead: what autograd saves per layer (training), and live activations "
                   "(inference), against cnncost memory (docs/memory.md).")
@click.option("--rf", "check_rf", is_flag=True,
              help="Check receptive fields instead, by input gradients in a linearised network "
                   "(docs/receptive-field.md).")
@click.option("--latency", "check_latency", is_flag=True,
              help="Time each layer and the network in torch against the roofline (docs/latency.md).")
@click.option("--profile", metavar="NAME", default="local", show_default=True,
              help="With --latency: the device whose roofline to compare with (local: 'cnncost calibrate').")
@click.option("--smallest-input", "smallest", is_flag=True,
              help="Run each model at its smallest square input (64, 68, ... up to its default) that builds the "
                   "same layers: the same rules, checked with far less work.")
@model_options
@output_options
@handle_errors
def validate(models, all_models, device, check_memory, check_rf, check_latency, profile, smallest, settings, fmt,
             output):
    """Check cnncost's figures against PyTorch running MODEL (needs: pip install 'cnncost[torch]').

    One forward pass; every row is compared: output shape, activation bytes,
    params, buffers, the raw quantities, and MACs under every convention
    (only --convention's when given). Side outputs are always run and
    checked row by row; --side decides what the checked totals include.
    Exits 1 on any difference. See docs/validation.md.
    """
    from click.core import ParameterSource

    from . import validate as checker
    from .render.validation import Progress

    checker.require_torch()
    if all_models and models:
        raise CnnCostError("give MODEL names or --all, not both")
    if check_memory + check_rf + check_latency > 1:
        raise CnnCostError("give one of --memory, --rf and --latency")
    if smallest and (settings.input or check_latency):
        raise CnnCostError("--smallest-input chooses the input: give it without --input and --latency")
    if "-" in models and len(models) > 1:
        raise CnnCostError("validate reads stdin (-) only as its one MODEL")
    if "-" in models and smallest:
        raise CnnCostError("--smallest-input expands MODEL at many inputs: give a file, not stdin (-)")
    if check_latency:
        return validate_latency(models, all_models, device, profile, settings, fmt, output)
    if not all_models and not models:
        raise CnnCostError("give a MODEL to validate, or --all for the whole zoo")
    given = click.get_current_context().get_parameter_source("convention") is ParameterSource.COMMANDLINE
    chosen = (settings.convention,) if given else None
    if len(models) == 1:
        # one model: errors in its file are the user's, reported on one line
        if smallest:
            settings = replace(settings, input=checker.smallest_input(models[0], settings))
        model = load_model(models[0], settings) if models[0] == "-" else models[0]
        run = checker.validate_one(model, settings, device=device, convention_names=chosen, memory=check_memory,
                                   rf=check_rf)
    else:
        chosen_models = zoo.names() if all_models else list(models)
        with Progress(len(chosen_models)) as progress:
            run = checker.validate_many(chosen_models, settings, device=device, convention_names=chosen,
                                        memory=check_memory, rf=check_rf, on_model=progress.start,
                                        on_done=progress.done, smallest=smallest)
    emit(render(run, fmt, detail=len(run.models) == 1, color=use_color(output),
                           width=terminal_width(output)), output, fmt)
    if not run.ok:
        sys.exit(1)


def validate_latency(models, all_models, device, profile, settings, fmt, output):
    """validate --latency: timing is not a pass or fail, so it reports and exits 0 unless a model failed."""
    from . import devices
    from . import validate as checker
    from .render.latency import LatencyRuns

    checker.require_torch()
    known = devices.table()
    chosen_profile = devices.get(profile, known)
    names = zoo.names() if all_models else list(models)
    results = []
    for name in names:
        results.append(checker.validate(load_model(name, settings), settings, check="latency", device=device,
                                        profile=chosen_profile))
        if len(names) > 1:
            click.echo(f"validate: {one_line(name)}: {results[-1].measured_s * 1e3:.1f} ms measured", err=True)
    emit(render(LatencyRuns(results, detail=len(names) == 1, color=use_color(output),
                            width=terminal_width(output)), fmt), output, fmt)
    if not all(r.ok for r in results):
        sys.exit(1)


@main.command(name="import")
@click.argument("source", metavar="FILE.onnx")
@click.option("--input", "input_shape", metavar="CxHxW", help="Input size per sample, instead of the file's.")
@click.option("-o", "--output", metavar="FILE", help="Write the YAML to FILE (atomically) instead of stdout.")
@click.option("--partial", is_flag=True,
              help="Import the operators cnncost cannot map as opaque rows (totals then lower bounds) instead of "
                   "refusing the model.")
@handle_errors
def import_model(source, input_shape, output, partial):
    """Write an ONNX model as cnncost YAML, read statically (docs/import.md). Any command also takes the
    .onnx file itself as its MODEL; from Python, cnncost.from_torch(module) imports a torch module."""
    if not source.lower().endswith(".onnx"):
        raise CnnCostError(f"'{source}' is not an .onnx file; a torch module is imported from Python: "
                           "cnncost.from_torch(module, input='3x224x224').to_yaml()")
    from .importers.onnx import load_onnx

    graph = load_onnx(source, parse_input(input_shape), partial=partial)
    emit(graph.to_yaml(), output, "yaml")
    warn_if_partial(graph, source)


if __name__ == "__main__":  # pragma: no cover
    main()
