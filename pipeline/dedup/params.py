"""MinHash deduplication's parameters, held once: every stage and the filter take this object."""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, fields
from typing import Literal

from ...filters.presets import ConfigError


@dataclass(frozen=True)
class MinhashParams:
    """Word n-gram size, bands x rows hashes, the permutations' seed, and the exact pass (a hash of the
    normalised text as one more band). FineWeb's values are the preset's (`minhash_dedup`).

    FineWeb-2 deduplicates within each language: `per_language` keeps documents of different `language`
    labels out of each other's buckets, and `words: language` makes the shingles from the words of the
    language's own tokenizer (on datatrove's simplified text, as FineWeb-2's MinHash did) instead of the
    quick split."""

    ngram: int
    bands: int
    rows: int
    seed: int
    exact_pass: bool
    per_language: bool = False
    words: Literal["quick", "language"] = "quick"

    @property
    def num_perm(self) -> int:
        return self.bands * self.rows

    def meta(self) -> dict:
        """What every intermediate file records, so a stage never reads another run's files (FineWeb-2's
        settings only when set: files written before they existed still match)."""
        defaults = {f.name: f.default for f in fields(self) if f.default is not MISSING}
        return {k: v for k, v in asdict(self).items() if k not in defaults or v != defaults[k]}

    @classmethod
    def of(cls, params: dict | MinhashParams) -> MinhashParams:
        """From a preset's `minhash_dedup` parameters; one line naming what is missing or unknown."""
        if isinstance(params, MinhashParams):
            return params
        required = tuple(f.name for f in fields(cls) if f.default is MISSING)
        known = tuple(f.name for f in fields(cls))
        missing = [k for k in required if k not in params]
        unknown = sorted(set(params) - set(known))
        if missing or unknown:
            raise ConfigError(f"minhash_dedup parameters: missing {missing}, unknown {unknown}; need {required}")
        if params.get("words", "quick") not in ("quick", "language"):
            raise ConfigError(f"minhash_dedup words {params['words']!r}: give quick or language")
        return cls(**{k: params[k] for k in known if k in params})
