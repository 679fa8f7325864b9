"""`spikebox export …`: argument parsing and printing only.

The work is in box_edit (init/add/remove), box_compile (compile),
box_check (check), box_tune (tune) and box_sign (sign); this module turns their errors into one clear line and an
exit status: 0 done, 1 refused (the box is unchanged), 2 usage.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from spikebox.runtime.manifest import RUN_UNWOKEN

from .model_inputs import parse_input_shape


def add_arguments(exp: argparse.ArgumentParser, fmt) -> None:
    sub = exp.add_subparsers(dest="action",
                             metavar="{init,add,remove,set,compile,check,tune,sign}",
                             required=True)
    p = sub.add_parser("init", formatter_class=fmt, help="make an empty box",
                       description="example:  spikebox export init mybox")
    p.add_argument("box", metavar="BOX")
    p.add_argument("--name", help="the box's name (default: the folder's)")

    p = sub.add_parser(
        "add", formatter_class=fmt, help="add an expert (any ONNX model) and train its units",
        description="example:  spikebox export add mybox line_follow line.onnx "
                    "--examples frames/line --background frames/floor\n"
                    "          spikebox export add mybox wake_word kws.onnx "
                    "--input-shape audio=1,16000 --input-shape state=2,1,64\n\n"
                    "Checks the model (onnx.checker, shape inference, a test run), writes the\n"
                    "optimised file the pager loads and checks its outputs against the\n"
                    "source, measures resident footprint, load time and latency in a fresh\n"
                    "process (all on one input: generated, each dynamic dim 2, unless\n"
                    "--input-shape or --sample-inputs give it; its shapes are recorded),\n"
                    "trains the expert's activator units on --examples against the other\n"
                    "experts' examples and the background, and commits. Other experts' units\n"
                    "are not touched. Without --examples the expert gets no units: the\n"
                    f"camera never wakes it; {RUN_UNWOKEN}.")
    p.add_argument("box", metavar="BOX")
    p.add_argument("name", metavar="NAME")
    p.add_argument("model", metavar="MODEL",
                   help="an .onnx file from any framework, or a PyTorch model: FILE.py:FACTORY "
                        "(a zero-argument callable returning an nn.Module) or FILE.pt2 (a "
                        "torch.export.save'd program); PyTorch models need PyTorch installed")
    p.add_argument("--weights", metavar="FILE.pt",
                   help="PyTorch FACTORY: its state_dict, saved with torch.save")
    p.add_argument("--input-shape", action="append", type=parse_input_shape,
                   metavar="NAME=DIMS",
                   help="the shape to test-run and measure an input at, e.g. audio=1,16000: "
                        "for a model whose dynamic dims carry meaning (a window length, a "
                        "state size, a multiple of 32); repeatable, one per input (the others "
                        "are generated, each dynamic dim 2). A PyTorch FACTORY's inputs have no "
                        "names yet: give DIMS alone (1,3,96,96), once per input, in order")
    p.add_argument("--sample-inputs", metavar="FILE.npz",
                   help="real inputs to test-run and measure it on: numpy.savez(FILE, "
                        "NAME=array, ...), one array per input, keyed by input name")
    p.add_argument("--examples", metavar="DIR",
                   help="frames of the expert's world (*.png/*.jpg), each read as a still: they "
                        "train the units that wake it from camera frames. Leave it out for an "
                        f"expert the camera should never wake (0 units): {RUN_UNWOKEN}")
    p.add_argument("--background", metavar="DIR",
                   help="frames of no expert's world; needed for the box's first expert with "
                        "--examples")
    p.add_argument("--keep-examples", type=int, metavar="N",
                   help="store at most N of the --examples frames (and of --background), "
                        "evenly spread, in the box for later experts' calibration; all of them "
                        "train the units (default: store all)")
    p.add_argument("--metric", action="append", default=[], type=_metric, metavar="NAME=VALUE",
                   help="a held-out figure its trainer measured, kept in its manifest entry, "
                        "e.g. steering_mae=0.05; repeatable")
    p.add_argument("--role", default="skill", help="what the arbiter treats it as (default: skill)")
    p.add_argument("--priority", type=int, default=0, help="higher wins in the arbiter")
    p.add_argument("--output", action="append", default=[], metavar="NAME=MEANING",
                   help="what an output means, for people, e.g. steer='steering in [-1, 1]'")
    p.add_argument("--drive", metavar="SPEC",
                   help="how its outputs drive the robot, for the arbiter: a JSON file or inline "
                        "JSON naming one behaviour (steer, seek or classes), its output and "
                        "columns, e.g. '{\"steer\": {\"output\": \"steer\", "
                        "\"steering\": 0}}' (README.md, Drive contracts); checked against the "
                        "model's outputs before the box is touched. Without it the arbiter "
                        "only logs its outputs")
    p.add_argument("--image-size", metavar="WxH", help="image input: resize frames to WxH")
    p.add_argument("--colour", choices=["bgr", "rgb"], help="image input: channel order")
    p.add_argument("--scale", type=float, help="image input: multiply pixels by this")
    p.add_argument("--mean", metavar="A,B,C", help="image input: subtract per channel")
    p.add_argument("--std", metavar="A,B,C", help="image input: divide per channel")
    p.add_argument("--max-footprint-mb", type=float, default=1024,
                   help="refuse models whose loaded footprint is above this (default 1024)")
    p.add_argument("--int8", action="store_true",
                   help="quantise to int8 (static, calibrated); the output difference against "
                        "fp32 is measured on held-out samples and the add refused above "
                        "--int8-tolerance")
    p.add_argument("--calibration", metavar="DIR",
                   help="int8 calibration samples: frames for an image expert (default: "
                        "--examples), or .npz files (one per sample, keyed by input name)")
    p.add_argument("--int8-tolerance", type=float, metavar="X", default=None,
                   help="largest accepted int8 vs fp32 difference, as a fraction of each "
                        "output's range (default 0.1)")
    p.add_argument("--force-int8", action="store_true",
                   help="keep int8 even when its difference is above the tolerance")

    p = sub.add_parser("remove", formatter_class=fmt, help="remove an expert and its units",
                       description="example:  spikebox export remove mybox line_follow")
    p.add_argument("box", metavar="BOX")
    p.add_argument("name", metavar="NAME")

    p = sub.add_parser(
        "set", formatter_class=fmt, help="change how an expert drives: priority, contract",
        description="example:  spikebox export set mybox dock --priority 40\n"
                    "          spikebox export set mybox exit_find --drive contract.json\n\n"
                    "Changes an expert's arbitration in the manifest (its priority, its drive\n"
                    "contract, or --no-drive: run and logged, never driven by) without\n"
                    "touching its model or any activator units. The contract is checked\n"
                    "against the outputs the manifest declares first; a signed box is left\n"
                    "unsigned until it is signed again.")
    p.add_argument("box", metavar="BOX")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--priority", type=int, metavar="N", help="higher wins in the arbiter")
    drive = p.add_mutually_exclusive_group()
    drive.add_argument("--drive", metavar="SPEC", help="how its outputs drive the robot: a JSON "
                       "file or inline JSON (README.md, Drive contracts)")
    drive.add_argument("--no-drive", action="store_true", help="drop its drive contract")

    p = sub.add_parser(
        "compile", formatter_class=fmt, help="check the activator on Lava against numpy",
        description="example:  spikebox export compile mybox\n\n"
                    "Runs the box's example frames through the activator's numpy backend and\n"
                    "its Lava process graph; refuses the box unless every spike agrees.")
    p.add_argument("box", metavar="BOX")

    p = sub.add_parser(
        "check", formatter_class=fmt, help="re-verify hashes, schema, and that experts run",
        description="example:  spikebox export check mybox\n\n"
                    "Verifies the manifest's schema and the sha256 of every file, loads every\n"
                    "expert's optimised file and runs it, pages its weights out and back in\n"
                    "as the pager's shells do and checks the outputs again, and loads the\n"
                    "activator. A signature that does not match the manifest is refused;\n"
                    "with --trusted-key, so is a box not signed by one of those keys, as a\n"
                    "robot with them in its run config's trusted_keys refuses it.")
    p.add_argument("box", metavar="BOX")
    p.add_argument("--trusted-key", action="append", metavar="PUB", default=[],
                   help="an Ed25519 public key (PEM) the robot trusts; repeatable")

    p = sub.add_parser(
        "tune", formatter_class=fmt, help="optimise each expert for this computer's CPU",
        description="example:  spikebox export tune mybox      # on the robot, once\n\n"
                    "Writes, beside each expert's portable paged file, one optimised by\n"
                    "onnxruntime for this CPU (its \"all\" level: layouts for its vector units),\n"
                    "checks its outputs against the portable file's and keeps it unless it\n"
                    "runs slower (by over 5 %), measured here. The robot loads it wherever the CPU, machine\n"
                    "type and onnxruntime version match, the portable file elsewhere. Sign the\n"
                    "box again afterwards if it was signed.")
    p.add_argument("box", metavar="BOX")

    p = sub.add_parser(
        "sign", formatter_class=fmt, help="sign the box's manifest with the owner's key",
        description="example:  spikebox export sign mybox --key owner.pem\n\n"
                    "Signs the exact bytes of manifest.json (which holds the sha256 of every\n"
                    "file) with an Ed25519 private key and writes manifest.sig beside it. A\n"
                    "robot given the public half in trusted_keys runs only boxes so signed.\n"
                    "Any later add or remove leaves the box unsigned. A key pair:\n"
                    "  openssl genpkey -algorithm ed25519 -out owner.pem\n"
                    "  openssl pkey -in owner.pem -pubout -out owner.pub.pem")
    p.add_argument("box", metavar="BOX")
    p.add_argument("--key", metavar="K", required=True,
                   help="the owner's Ed25519 private key, PEM (PKCS8), unencrypted")


def _metric(text: str) -> tuple[str, float]:
    """`steering_mae=0.05` → ("steering_mae", 0.05); for argparse's `type=`."""
    name, sep, value = text.partition("=")
    try:
        if not sep:
            raise ValueError
        return name.strip(), float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--metric {text!r}: give NAME=NUMBER, e.g. "
                                         f"steering_mae=0.05") from None


def _input_shapes(given) -> list[tuple[int, ...]] | dict[str, tuple[int, ...]] | None:
    """--input-shape flags as AddOptions takes them: all by name (a dict) or all in order
    (a list, for a PyTorch factory)."""
    if not given:
        return None
    named = [s for s in given if s.name]
    if not named:
        return [s.dims for s in given]
    if len(named) < len(given):
        raise ValueError(f"--input-shape {next(s for s in given if not s.name)}: name the input "
                         f"as the others do (NAME=dims), or give every shape in order without "
                         f"names (a PyTorch factory's)")
    twice = next((s for i, s in enumerate(given) if s.name in {t.name for t in given[:i]}), None)
    if twice:
        raise ValueError(f"--input-shape {twice}: input '{twice.name}' is given twice")
    return {s.name: s.dims for s in given}


def _preprocessing(args) -> dict | None:
    if not any((args.image_size, args.colour, args.scale, args.mean, args.std)):
        return None
    out: dict = {}
    if args.image_size:
        w, h = (int(v) for v in args.image_size.lower().split("x"))
        out["size"] = [w, h]
    out["colour"] = args.colour or "bgr"
    out["scale"] = args.scale if args.scale is not None else 1.0
    for key in ("mean", "std"):
        value = getattr(args, key)
        if value:
            out[key] = [float(v) for v in value.split(",")]
    return out


def _add_options(**values):
    """AddOptions from the flags; its refusals name a field, said here as the flag that set it."""
    from spikebox.runtime.config_fields import ConfigError

    from .box_edit import AddOptions
    try:
        return AddOptions(**values)
    except ConfigError as e:
        given = "" if e.value is None or isinstance(e.value, bool) else f" {e.value}"
        raise ValueError(f"--{e.key.replace('_', '-')}{given}: {e.rule}") from None


def run(args: argparse.Namespace) -> int:
    from spikebox.runtime.activator import ActivatorFileError
    from spikebox.runtime.box import SIGNATURE, BoxError
    from spikebox.runtime.box_signature import ALGORITHM

    from .backend_check import BackendMismatch

    say = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    try:
        if args.action == "init":
            from .box_edit import init_box
            box = init_box(args.box, args.name)
            print(f"{box.path}: empty box '{box.name}'")
        elif args.action == "add":
            from .box_edit import add_expert
            from .drive_spec import read_drive_spec
            outputs = dict(o.split("=", 1) for o in args.output)
            opts = _add_options(examples=Path(args.examples) if args.examples else None,
                                sample_inputs=Path(args.sample_inputs) if args.sample_inputs
                                else None,
                                background=Path(args.background) if args.background else None,
                                role=args.role, priority=args.priority, outputs=outputs,
                                preprocessing=_preprocessing(args),
                                weights=Path(args.weights) if args.weights else None,
                                input_shapes=_input_shapes(args.input_shape),
                                max_footprint_mb=args.max_footprint_mb, int8=args.int8,
                                calibration=Path(args.calibration) if args.calibration else None,
                                force_int8=args.force_int8, metrics=dict(args.metric),
                                keep_examples=args.keep_examples,
                                drive=read_drive_spec(args.drive) if args.drive else None,
                                **({} if args.int8_tolerance is None
                                   else {"int8_tolerance": args.int8_tolerance}))
            add_expert(args.box, args.name, args.model, opts, progress=say)
            print(f"{args.box}: added '{args.name}'")
        elif args.action == "remove":
            from .box_edit import remove_expert
            remove_expert(args.box, args.name)
            print(f"{args.box}: removed '{args.name}'")
        elif args.action == "set":
            from .box_set import KEEP, set_expert
            from .drive_spec import read_drive_spec
            drive = (None if args.no_drive else read_drive_spec(args.drive) if args.drive
                     else KEEP)
            entry = set_expert(args.box, args.name, priority=args.priority, drive=drive)
            how = entry.drive.summary() if entry.drive is not None else "no drive contract"
            print(f"{args.box}: '{args.name}' priority {entry.priority}; {how}")
        elif args.action == "compile":
            from .box_compile import compile_box
            r = compile_box(args.box, progress=say)
            if not r.units:
                print(f"{args.box}: no activator (no expert is woken by the camera); nothing "
                      f"to compile")
                return 0
            print(f"{args.box}: activator compiled for Lava and checked bit-exact against "
                  f"numpy on {r.frames} example frames ({r.units} units, {r.spikes} spikes)")
        elif args.action == "check":
            from .box_check import check_box
            for line in check_box(args.box, progress=say, trusted_keys=args.trusted_key):
                print(line)
        elif args.action == "tune":
            from .box_tune import tune_box
            for r in tune_box(args.box, progress=say):
                ms = ("" if r.tuned_ms is None else
                      f" ({r.portable_ms:.2f} ms portable, {r.tuned_ms:.2f} ms tuned)")
                print(f"  {r.name}: {'tuned' if r.kept else 'kept portable'}: {r.why}{ms}")
            print(f"{args.box}: tuned for this CPU")
        elif args.action == "sign":
            from .box_sign import sign_box
            signed = sign_box(args.box, args.key)
            print(f"{args.box}: signed by key {signed.key_id} ({ALGORITHM}); {SIGNATURE} written")
    except (BoxError, ActivatorFileError, BackendMismatch, ValueError) as e:
        print(f"spikebox export {args.action}: refused: {e}", file=sys.stderr)
        return 1
    return 0
