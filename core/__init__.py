"""Yaofang core: app factory, configuration, database, users and permissions, audit, money, clock, i18n, CLI."""
