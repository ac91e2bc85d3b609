"""MinHash deduplication's parameters, held once: every stage and the filter take this object."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from ...filters.presets import ConfigError


@dataclass(frozen=True)
class MinhashParams:
    """Word n-gram size, bands x rows hashes, the permutations' seed, and the exact pass (a hash of the
    normalised text as one more band). FineWeb's values are the preset's (`minhash_dedup`)."""

    ngram: int
    bands: int
    rows: int
    seed: int
    exact_pass: bool

    @property
    def num_perm(self) -> int:
        return self.bands * self.rows

    def meta(self) -> dict:
        """What every intermediate file records, so a stage never reads another run's files."""
        return asdict(self)

    @classmethod
    def of(cls, params: dict | MinhashParams) -> MinhashParams:
        """From a preset's `minhash_dedup` parameters; one line naming what is missing or unknown."""
        if isinstance(params, MinhashParams):
            return params
        required = tuple(f.name for f in fields(cls))
        missing = [k for k in required if k not in params]
        unknown = sorted(set(params) - set(required))
        if missing or unknown:
            raise ConfigError(f"minhash_dedup parameters: missing {missing}, unknown {unknown}; need {required}")
        return cls(**{k: params[k] for k in required})
