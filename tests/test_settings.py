from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from streamrec.settings import Settings

# Setting one of these trains exactly it (no search), so .env.example shows them commented out.
COMMENTED = {"factors", "iterations", "regularization", "alpha", "confidence", "eps"}


def test_defaults_match_env_example() -> None:
    documented, commented = {}, set()
    for line in (Path(__file__).parent.parent / ".env.example").read_text().splitlines():
        name, sep, value = line.removeprefix("# ").partition("=")
        if sep and name in Settings.model_fields:
            documented[name] = value
            if line.startswith("#"):
                commented.add(name)
    assert set(documented) == set(Settings.model_fields)
    assert commented == COMMENTED
    defaults = Settings(_env_file=None)
    for name, value in documented.items():
        assert str(getattr(defaults, name)).lower() == value.lower(), name


def test_environment_and_dotenv_are_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("data_path=/srv/sessions.csv\nmodel_path=/srv/model.npz\nport=9000\n")
    monkeypatch.setenv("PORT", "9100")  # the environment wins over .env
    settings = Settings(_env_file=env_file)
    assert settings.data_path == Path("/srv/sessions.csv")
    assert settings.model_path == Path("/srv/model.npz")
    assert settings.port == 9100


@pytest.mark.parametrize(
    ("name", "value"),
    [("port", "0"), ("default_k", "5000"), ("alpha", "-1"), ("repeat_weight", "-1")],
)
def test_out_of_range_value_names_the_setting(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=name):
        Settings(_env_file=None)
