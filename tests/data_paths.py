"""Where the validation data sets live: tests/data/, copied from ../shared/data with its README."""

from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
