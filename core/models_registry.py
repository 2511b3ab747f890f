"""Import every package's tables so SQLModel.metadata is complete (for Alembic and the app)."""
import importlib

DOMAIN_PACKAGES = ("inventory", "gsp", "pos", "insurance")


def import_all_models() -> None:
    import core.models  # noqa: F401

    for package in DOMAIN_PACKAGES:
        try:
            importlib.import_module(f"{package}.models")
        except ModuleNotFoundError as exc:
            if exc.name != f"{package}.models":
                raise
