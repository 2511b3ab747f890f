"""Configuration: defaults, then the instance file, then environment variables (highest wins)."""
from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def instance_dir() -> Path:
    return Path(os.environ.get("YAOFANG_INSTANCE_DIR", REPO_ROOT / "instance")).resolve()


def _default_database_url(instance: Path) -> str:
    return f"sqlite:///{instance / 'yaofang.db'}"


def _load_or_create_secret(instance: Path) -> str:
    """The secret key is generated once, on first run, and kept in the instance folder (mode 0600)."""
    path = instance / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def load_config(overrides: dict | None = None) -> dict:
    instance = instance_dir()
    config: dict = {
        "DATABASE_URL": None,
        "TIMEZONE": "Asia/Shanghai",
        "DEFAULT_LOCALE": "zh_CN",
        "LOGIN_MAX_FAILURES": 5,
        "LOGIN_LOCKOUT_MINUTES": 15,
        "EXPIRY_TIERS_DAYS": [180, 90, 30],
        "EXPIRED_AUTO_LOCK": True,  # the daily job locks lots once their expiry date has passed (GSP Art. 85)
        "VALUABLE_PRICE_FEN": 10000,
        "CURING_KEY_INTERVAL_MONTHS": 1,  # 重点养护 plans: monthly (must divide 12)
        "CURING_NORMAL_INTERVAL_MONTHS": 3,  # other curing plans: quarterly
        "SCHEDULER_IN_PROCESS": True,
        "WTF_CSRF_TIME_LIMIT": None,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_HTTPONLY": True,
        "INSTANCE_DIR": str(instance),
        "BACKUP_DIR": None,  # default <instance>/backups
        "BACKUP_KEEP": 14,  # newest backup files kept by `yaofang backup` and the daily job
        "PG_BIN_DIR": None,  # where pg_dump / pg_restore live, if not on PATH
        "LICENCE_WARNING_DAYS": 30,
        "SLOW_MOVER_DAYS": 90,  # stock check: no sale or issue for this many days makes a slow mover
        "RECEIVING_MIN_SHELF_LIFE_MONTHS": 6,  # a lot received with less shelf life left needs the quality manager
    }
    # Instance file: instance/config.json (optional), for settings an operator keeps out of the environment.
    cfg_file = instance / "config.json"
    if cfg_file.exists():
        config.update(json.loads(cfg_file.read_text(encoding="utf-8")))
    env_map = {
        "YAOFANG_DATABASE_URL": "DATABASE_URL",
        "YAOFANG_SECRET_KEY": "SECRET_KEY",
        "YAOFANG_TIMEZONE": "TIMEZONE",
        "YAOFANG_DEFAULT_LOCALE": "DEFAULT_LOCALE",
        "YAOFANG_BACKUP_DIR": "BACKUP_DIR",
    }
    for env, key in env_map.items():
        if os.environ.get(env):
            config[key] = os.environ[env]
    if os.environ.get("YAOFANG_SCHEDULER_IN_PROCESS"):
        config["SCHEDULER_IN_PROCESS"] = os.environ["YAOFANG_SCHEDULER_IN_PROCESS"].lower() in ("1", "true", "yes")
    if overrides:
        config.update(overrides)
    if not config.get("DATABASE_URL"):
        instance.mkdir(parents=True, exist_ok=True)
        config["DATABASE_URL"] = _default_database_url(instance)
    if not config.get("SECRET_KEY"):
        config["SECRET_KEY"] = _load_or_create_secret(instance)
    config["DATABASE_URL"] = normalise_database_url(config["DATABASE_URL"])
    return config


def normalise_database_url(url: str) -> str:
    """Accept postgres:// and postgresql:// and use the psycopg 3 driver."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url
