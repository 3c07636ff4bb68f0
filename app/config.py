"""Where Modelbay keeps its data: the data home, the database URL and the artifact store.

``MODELBAY_HOME`` overrides the data home (default: the platform's user data
folder, e.g. ``~/.local/share/modelbay`` on Linux). ``MODELBAY_DATABASE_URL``
points the registry at any SQLAlchemy URL (e.g. a team's PostgreSQL); by
default it is ``registry.db`` (SQLite) in the data home.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

HOME_ENV = "MODELBAY_HOME"
DATABASE_URL_ENV = "MODELBAY_DATABASE_URL"
USER_ENV = "MODELBAY_USER"


@dataclass(frozen=True)
class Config:
    home: Path
    database_url: str

    @property
    def store_dir(self) -> Path:
        return self.home / "store"

    @property
    def log_dir(self) -> Path:
        return self.home / "logs"

    @property
    def cache_dir(self) -> Path:
        """Downloaded wheels and dependency locks for image builds (safe to delete)."""
        return self.home / "cache"

    @property
    def settings_file(self) -> Path:
        """Settings shared by the app and the CLI (INI; the app writes it with QSettings)."""
        return self.home / "settings.ini"

    def setting(self, section: str, key: str) -> str | None:
        """One value of :attr:`settings_file` (``None`` when unset or unreadable)."""
        import configparser

        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read(self.settings_file, encoding="utf-8")
        except (configparser.Error, UnicodeDecodeError):
            return None
        value = parser.get(section, key, fallback="").strip()
        return value or None

    @classmethod
    def from_environment(cls) -> Config:
        home_value = os.environ.get(HOME_ENV)
        if home_value:
            home = Path(home_value).expanduser()
        else:
            from platformdirs import user_data_path

            home = user_data_path("modelbay", appauthor=False)
        url = os.environ.get(DATABASE_URL_ENV) or sqlite_url(home / "registry.db")
        return cls(home=home.absolute(), database_url=url)

    @classmethod
    def at(cls, home: Path, database_url: str | None = None) -> Config:
        home = home.absolute()
        return cls(home=home, database_url=database_url or sqlite_url(home / "registry.db"))


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path.absolute()}"


def current_user() -> str:
    """Who is acting, for the event log: ``MODELBAY_USER`` or the login name."""
    explicit = os.environ.get(USER_ENV)
    if explicit:
        return explicit
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return "unknown"
