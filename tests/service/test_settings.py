from __future__ import annotations

from pathlib import Path

from moments.service.settings import Settings


def test_database_url_follows_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, _env_file=None)
    assert settings.database_url == f"sqlite:///{(tmp_path / 'moments.db').resolve()}"


def test_environment_and_plain_database_url(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MOMENTS_WORKERS", "5")
    monkeypatch.setenv("MOMENTS_CORS_ORIGINS", '["https://a.example"]')
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@h/db")
    settings = Settings(data_dir=tmp_path, _env_file=None)
    assert settings.workers == 5
    assert settings.cors_origins == ["https://a.example"]
    assert settings.database_url == "postgresql://u@h/db"


def test_dotenv_file(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("MOMENTS_RETENTION_HOURS=1.5\nMOMENTS_QUEUE=celery\n")
    settings = Settings()
    assert settings.retention_hours == 1.5
    assert settings.queue == "celery"


def test_every_setting_is_described() -> None:
    missing = [name for name, f in Settings.model_fields.items() if not f.description]
    assert missing == []
