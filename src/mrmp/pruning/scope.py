"""Layer-wise or model-wide: one typed choice for KL grouping, latent scale and ranking scope."""

from __future__ import annotations

from enum import StrEnum

from mrmp.errors import ConfigError

__all__ = ["Scope"]


class Scope(StrEnum):
    """Per tensor (``layer``) or over all prunable tensors together (``global``).

    A ``str`` enum, so configs and JSON keep the plain strings.

    >>> Scope.parse("global") is Scope.GLOBAL, Scope.LAYER == "layer"
    (True, True)
    """

    LAYER = "layer"
    GLOBAL = "global"

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The plain strings, e.g. for CLI choices."""
        return tuple(s.value for s in cls)

    @classmethod
    def parse(cls, value: str | Scope, what: str = "scope") -> Scope:
        """``value`` as a :class:`Scope`; :class:`ConfigError` naming ``what`` if it is none."""
        try:
            return cls(value)
        except ValueError:
            choices = " or ".join(cls.names())
            raise ConfigError(f"unknown {what} {value!r}; choose {choices}") from None
