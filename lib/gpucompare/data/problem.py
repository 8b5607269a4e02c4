"""One problem found in a data file: ``file: key: problem`` (``gpucompare check-data`` prints one a line)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, order=True)
class Problem:
    """One problem of one data file."""

    file: str
    key: str
    problem: str

    def __str__(self) -> str:
        return f"{self.file}: {self.key}: {self.problem}"


def display(data: Path, rel: str) -> str:
    return str(data / rel)
