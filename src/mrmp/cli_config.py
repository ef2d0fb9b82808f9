"""Command-line flags declared once, from the fields of :class:`~mrmp.config.RunConfig`.

A :class:`Flag` names one config field (``section.field``); its type, choices and default come
from the dataclass annotation. A :class:`FlagSet` adds its flags to an argparse parser, plus
``--set section.field=value`` for every field without a flag, and turns the parsed namespace
back into config changes (``{section: {field: value}}``) for :meth:`RunConfig.replace`.
``mrmp train`` and the benchmarks declare their config flags from :data:`TRAIN_FLAGS`.

>>> args = TRAIN_FLAGS.parser().parse_args(["--lr", "0.01", "--set", "features.chunks=6"])
>>> TRAIN_FLAGS.changes(args)
{'train': {'lr': 0.01}, 'features': {'chunks': 6}}
"""

from __future__ import annotations

import argparse
import difflib
import enum
import functools
import math
import re
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from mrmp.config_fields import Changes, field_default, field_text, field_types, parse_field
from mrmp.config_types import Annotated, Range, describe
from mrmp.data import DATASETS
from mrmp.errors import ConfigError
from mrmp.methods import method_names
from mrmp.numbers import comma_items, parse_float, parse_int
from mrmp.pruning import threshold_names

__all__ = ["RATE", "THREADS", "TRAIN_FLAGS", "Flag", "FlagSet", "OneLineParser", "bounded", "field_list"]


class OneLineParser(argparse.ArgumentParser):
    """An argparse parser whose usage errors are one line (``PROG: error: ...``, exit code 2)."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def bounded(kind: type[int] | type[float], bounds: Range | None = None) -> Callable[[str], Any]:
    """Argparse type: an ASCII integer or number within ``bounds``, e.g. ``bounded(int, Range(1))``."""
    hint = kind if bounds is None else Annotated[kind, bounds]
    parse = parse_int if kind is int else parse_float

    def convert(text: str) -> Any:
        try:
            value = parse(text)
        except ValueError:
            value = None
        if value is None or (kind is float and not math.isfinite(value)) or (bounds and not bounds.holds(value)):
            raise argparse.ArgumentTypeError(f"expected {describe(hint)}, got {text!r}")
        return value

    convert.__name__ = describe(hint)
    return convert


def field_list(key: str) -> Callable[[str], list[Any]]:
    """Argparse type: a comma list of values of the config field ``key`` (e.g. priors to sweep)."""

    def convert(text: str) -> list[Any]:
        return [_argument_value(key, part) for part in comma_items(text)]

    convert.__name__ = f"list of {key}"
    return convert


def _argument_value(key: str, text: str, parse: Callable[[str], Any] | None = None) -> Any:
    try:
        return parse(text) if parse else parse_field(key, text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


@dataclass(frozen=True)
class Flag:
    """A command-line flag that sets one config field.

    Attributes:
        key: The field, ``section.field``.
        name: The long flag, e.g. ``--kl-weight``.
        help: Help text (the default is appended).
        alias: A short flag, e.g. ``-m``.
        dest: Attribute of the parsed namespace (default: ``name`` without dashes, ``-`` → ``_``).
        parse: Text to value when it is not the field's own text form (e.g. ``--fold N``).
        choices: Allowed values of a ``str`` field (a ``Literal`` field has its own), or a function
            giving them when the flag is declared (a registry's current names).
        metavar: Name of the value in the help.
    """

    key: str
    name: str
    help: str = ""
    alias: str | None = None
    dest: str | None = None
    parse: Callable[[str], Any] | None = None
    choices: Sequence[str] | Callable[[], Sequence[str]] | None = None
    metavar: str | None = None

    @property
    def attr(self) -> str:
        return self.dest or self.name.lstrip("-").replace("-", "_")

    def add_to(self, parser: argparse.ArgumentParser, default: Any = argparse.SUPPRESS) -> None:
        """Declare the flag; with the default ``SUPPRESS`` it is in the namespace only when given."""
        shown = field_default(self.key) if default is argparse.SUPPRESS else default
        if self.parse is None and not isinstance(shown, bool | tuple | type(None)):
            shown_help = f"{self.help} (default: {shown})".strip()
        else:
            shown_help = self.help or None
        names = [self.name] if self.alias is None else [self.alias, self.name]
        kwargs: dict[str, Any] = {"dest": self.attr, "default": default, "help": shown_help, "metavar": self.metavar}
        hint = field_types()[self.key]
        if hint is bool and self.parse is None:  # --flag / --no-flag
            parser.add_argument(*names, action=argparse.BooleanOptionalAction, **kwargs)
            return
        choices = (self.choices() if callable(self.choices) else self.choices) or _choices(hint)
        convert = functools.partial(_argument_value, self.key, parse=self.parse)
        parser.add_argument(*names, type=convert, choices=choices, **kwargs)


def _choices(hint: Any) -> Sequence[Any] | None:
    """The values a ``Literal`` or ``Enum`` field takes (None for open types)."""
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return list(hint)
    return typing.get_args(hint) if typing.get_origin(hint) is Literal else None


class FlagSet:
    """Flags that set config fields, and ``--set`` for the others.

    Args:
        flags: The flags; several may set one field (``--split`` and ``--fold``).
    """

    def __init__(self, flags: Iterable[Flag]) -> None:
        self.flags = tuple(flags)
        unknown = [f.key for f in self.flags if f.key not in field_types()]
        if unknown:
            raise ConfigError(f"flags for unknown config fields: {unknown}")
        self.by_key: dict[str, Flag] = {}
        for flag in self.flags:
            self.by_key.setdefault(flag.key, flag)

    def select(self, *names: str) -> FlagSet:
        """The flags named (long names), e.g. ``TRAIN_FLAGS.select("--dropout", "--kl-weight")``."""
        by_name = {f.name: f for f in self.flags}
        return FlagSet(by_name[n] for n in names)

    def config_defaults(self) -> dict[str, Any]:
        """The config's default of each flag's field, by long name (flags with their own parse left out)."""
        return {f.name: field_default(f.key) for f in self.flags if f.parse is None}

    def add_to(
        self, parser: argparse.ArgumentParser, *, defaults: Mapping[str, Any] | None = None, with_set: bool = False
    ) -> None:
        """Declare the flags (those in ``defaults``, by long name, always parsed) and optionally ``--set``."""
        defaults = defaults or {}
        for flag in self.flags:
            flag.add_to(parser, defaults.get(flag.name, argparse.SUPPRESS))
        if with_set:
            parser.add_argument(
                "--set",
                action="append",
                default=[],
                metavar="SECTION.FIELD=VALUE",
                help="set a config field that has no flag of its own (repeatable; see below)",
            )

    def parser(self, **kwargs: Any) -> argparse.ArgumentParser:
        """A parser of these flags and ``--set`` (tests, doctests)."""
        parser = OneLineParser(**kwargs)
        self.add_to(parser, with_set=True)
        return parser

    def given(self, args: argparse.Namespace) -> list[str]:
        """Long names of the flags (and ``--set``) present in ``args``."""
        names = [f.name for f in self.flags if hasattr(args, f.attr)]
        return names + (["--set"] if getattr(args, "set", None) else [])

    def changes(self, args: argparse.Namespace) -> Changes:
        """Config changes of the flags present in ``args``, then of its ``--set`` assignments."""
        out: Changes = {}
        setters: dict[str, str] = {}
        for flag in (f for f in self.flags if hasattr(args, f.attr)):
            if flag.key in setters:
                raise ConfigError(f"{setters[flag.key]} and {flag.name} set the same field; give one")
            setters[flag.key] = flag.name
            section, name = flag.key.split(".")
            out.setdefault(section, {})[name] = getattr(args, flag.attr)
        for key, value in self.assignments(getattr(args, "set", None) or []).items():
            section, name = key.split(".")
            out.setdefault(section, {})[name] = value
        return out

    def assignments(self, items: Iterable[str]) -> dict[str, Any]:
        """Parsed ``--set section.field=value`` items, by key (a later item wins)."""
        out = {}
        for item in items:
            key, sep, text = item.partition("=")
            key = key.strip()
            if not sep:
                raise ConfigError(f"--set {item}: expected section.field=value")
            self._check_settable(key)
            try:
                out[key] = parse_field(key, text)
            except ConfigError as exc:
                raise ConfigError(f"--set {key}: {exc}") from None
        return out

    def _check_settable(self, key: str) -> None:
        if key in self.by_key:
            raise ConfigError(f"--set {key}: use {self.by_key[key].name}")
        if key not in field_types():
            close = difflib.get_close_matches(key, list(field_types()), n=1)
            name = close and (self.by_key[close[0]].name if close[0] in self.by_key else close[0])
            hint = f"; did you mean {name}?" if close else "; see --help for the fields"
            raise ConfigError(f"--set {key}: no such config field{hint}")

    def settable(self) -> str:
        """Help text listing the fields ``--set`` takes, with their types and defaults."""
        lines = ["fields for --set SECTION.FIELD=VALUE (tuples as comma lists):"]
        for key, hint in field_types(bounds=True).items():
            if key not in self.by_key:
                lines.append(f"  {key} = {describe(hint)} (default: {field_text(field_default(key))})")
        return "\n".join(lines)

    def with_flags(self, message: str) -> str:
        """``message`` with each config field it names followed by its flag, e.g. ``prune.source (--from)``.

        >>> TRAIN_FLAGS.with_flags("prune.source needs prune.method mp, not features.chunks")
        'prune.source (--from) needs prune.method (--method) mp, not features.chunks'
        """
        if not self.by_key:
            return message
        keys = sorted(self.by_key, key=len, reverse=True)
        pattern = re.compile(r"(?<![\w.])(?<!--set )(" + "|".join(map(re.escape, keys)) + r")(?!\w|\.\w)")
        return pattern.sub(lambda m: f"{m[1]} ({self.by_key[m[1]].name})", message)


#: Argparse types of ``--threads`` and of a pruning ``--rate`` outside ``train`` (eval, export).
THREADS = bounded(int, Range(1, 4096))
RATE = bounded(float, Range(0, 1, hi_open=True))


def _fold(text: str) -> str:
    try:
        return f"fold{parse_int(text)}"
    except ValueError:
        raise ConfigError(f"expected a fold number, got {text!r}") from None


#: The flags of ``mrmp train``, one per config field they set (``--fold`` is a second way to set the split).
TRAIN_FLAGS = FlagSet(
    [
        Flag("data.dataset", "--dataset", "dataset name", alias="-d", choices=DATASETS),
        Flag(
            "data.root",
            "--data",
            "dataset folder (sbu, fpha, ntu) or file (npz, pyskl .pkl); default $MRMP_DATA/<name>",
        ),
        Flag("data.skip_bad", "--skip-bad", "skip malformed sequence files (listed)"),
        Flag("data.cache", "--cache", "ntu/pyskl: cache folder of the parsed, memory-mapped set, auto or off"),
        Flag(
            "data.workers",
            "--workers",
            "processes parsing ntu files and loading the batches of a streamed (cached) set",
        ),
        Flag("data.split", "--split", "protocol split (fold0..fold4 for SBU, default for FPHA; SBU defaults to fold0)"),
        Flag("data.split", "--fold", "shorthand for --split foldN", parse=_fold, metavar="N"),
        Flag("model.name", "--model", "backbone"),
        Flag("model.dropout", "--dropout", "dropout before the classifier"),
        Flag("prune.method", "--method", "pruning method", alias="-m", choices=method_names),
        Flag("prune.prior", "--prior", "prior of the latent weights (srmp/mrmp)"),
        Flag("prune.kl_weight", "--kl-weight", "λ of the KL term"),
        Flag("prune.rate", "--rate", "target rate of mp / srmp / gmp", alias="-r"),
        Flag("prune.rates", "--rates", "seen rates of mrmp, e.g. 0.5:0.9:0.1,0.98 (default: 0.5:0.95:0.05,0.98)"),
        Flag("prune.rates_per_step", "--rates-per-step", "rates trained per mrmp step"),
        Flag("prune.grouping", "--grouping", "KL over all weights or per layer"),
        Flag("prune.scope", "--scope", "ranking scope of mp and of magnitude pruning of dense checkpoints"),
        Flag("prune.floor", "--floor", "per-layer floor of global ranking: a layer keeps >= f·(1−r) of its weights"),
        Flag(
            "prune.scale",
            "--scale",
            "srmp/mrmp latent scale: one for all weights (small layers keep more) or one per layer",
        ),
        Flag(
            "prune.threshold",
            "--threshold",
            "srmp/mrmp cut-off in training: the empirical quantile of |latent| (observed rate = "
            "requested) or the prior's quantile (the paper's mode)",
            choices=functools.partial(threshold_names, trainable=True),
        ),
        Flag(
            "prune.source",
            "--from",
            "dense checkpoint to start from: mp prunes it; srmp/mrmp warm-start their latents from it",
            dest="source",
            metavar="CHECKPOINT",
        ),
        Flag(
            "prune.warmup",
            "--warmup",
            "srmp/mrmp/gmp/mrmag without --from: train the dense backbone first, into OUT/dense (default: on)",
        ),
        Flag("prune.warmup_epochs", "--warmup-epochs", "epochs of the dense warm-up phase"),
        Flag("prune.warmup_lr", "--warmup-lr", "learning rate of the dense warm-up phase (0: --lr)"),
        Flag(
            "prune.warmup_batch_size", "--warmup-batch-size", "batch size of the dense warm-up phase (0: --batch-size)"
        ),
        Flag("prune.gmp_end", "--gmp-end", "gmp: fraction of the steps over which the rate rises (cubic)"),
        Flag("prune.gmp_every", "--gmp-every", "gmp: steps between mask updates (0: one epoch)"),
        Flag("prune.distill", "--distill", "mrmp: distil the lowest rate into the others"),
        Flag(
            "train.epochs",
            "--epochs",
            "training epochs (srmp/mrmp/gmp/mrmag: of the pruned phase, default 150)",
            alias="-e",
        ),
        Flag("train.batch_size", "--batch-size", "global batch size"),
        Flag("train.lr", "--lr", "learning rate"),
        Flag("train.seed", "--seed", "seed of the model, the batches and the augmentation"),
        Flag("train.device", "--device", "cpu, cuda or auto"),
        Flag("train.amp", "--amp", "mixed precision of the forward pass"),
    ]
)
