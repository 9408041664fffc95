"""The store interface. Callers depend on this, never on a backend."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass

from orchestrator.variants.card import VariantCard

__all__ = ["Family", "Store"]


@dataclass(frozen=True, slots=True)
class Family:
    """A model family: its name, evaluation set (an artifact digest) and label names."""

    model: str
    eval_sha256: str
    labels: tuple[str, ...]
    sample_shape: tuple[int, ...]
    created: float


class Store(abc.ABC):
    @abc.abstractmethod
    def put_family(self, family: Family) -> Family:
        """Create the family, or return the stored one unchanged if it exists."""

    @abc.abstractmethod
    def get_family(self, model: str) -> Family | None: ...

    @abc.abstractmethod
    def list_families(self) -> Sequence[Family]: ...

    @abc.abstractmethod
    def put_variants(self, cards: Sequence[VariantCard]) -> list[VariantCard]:
        """Insert cards atomically (all or none); an existing variant id keeps its stored card."""

    @abc.abstractmethod
    def get_variant(self, variant_id: str) -> VariantCard | None: ...

    @abc.abstractmethod
    def find_variants(self, prefix: str) -> Sequence[VariantCard]:
        """Cards whose id starts with ``prefix``."""

    @abc.abstractmethod
    def list_variants(self, model: str = "") -> Sequence[VariantCard]: ...

    @abc.abstractmethod
    def close(self) -> None: ...
