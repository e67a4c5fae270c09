"""Shared fixtures: the real corpus in ../shared and helpers that write capture files."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CORPUS = SHARED / "corpus"


def corpus_manifest() -> list[dict[str, str]]:
    """Rows of ../shared/corpus/MANIFEST.tsv (empty when the corpus is absent)."""
    manifest = CORPUS / "MANIFEST.tsv"
    if not manifest.exists():
        return []
    with open(manifest, encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t"))


@pytest.fixture(scope="session")
def manifest() -> list[dict[str, str]]:
    rows = corpus_manifest()
    if not rows:
        pytest.skip(f"the shared corpus is missing at {CORPUS}")
    return rows


def corpus_path(row: dict[str, str]) -> str:
    return str(CORPUS / row["path"])
