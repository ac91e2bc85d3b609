"""The Gopher rules (Rae et al. 2021) under one import path: repetition and quality, each in its own file."""

from .gopher_quality import GopherQualityFilter
from .gopher_repetition import GopherRepetitionFilter

__all__ = ["GopherQualityFilter", "GopherRepetitionFilter"]
