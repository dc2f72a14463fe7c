"""Reading a model file's members back: the fields it needs and the format version."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from streamrec.model import artifact
from streamrec.model.artifact import ArtifactError


def test_load_names_missing_field_and_version(tmp_path: Path) -> None:
    path = tmp_path / "model.npz"
    np.savez(path, format_version=np.array(1, dtype=np.int32))
    with pytest.raises(ArtifactError, match="missing field 'metadata_json'"):
        artifact.load(path)
    np.savez(path, format_version=np.array(99, dtype=np.int32))
    with pytest.raises(ArtifactError, match="format version 99"):
        artifact.load(path)
