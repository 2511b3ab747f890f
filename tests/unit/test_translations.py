"""The Simplified Chinese catalogue covers every string in the code, keeps its placeholders, and is what pages show.

When a test here fails after you added or changed a string: run `python -m core.i18n_tools update`, translate the
new or fuzzy entries in core/translations/zh_Hans_CN/LC_MESSAGES/messages.po (the zh_CN catalogue, in the folder
Flask-Babel reads), then `python -m core.i18n_tools check`.
"""
from __future__ import annotations

import pytest

from core import i18n_tools

PO_FILE = i18n_tools.po_path("zh_CN").relative_to(i18n_tools.REPO_ROOT)
FIX = (f"Run `python -m core.i18n_tools update`, translate the entries listed above in {PO_FILE} "
       "(remove any fuzzy flag once reviewed), then `python -m core.i18n_tools check`.")


@pytest.fixture(scope="module")
def template():
    """The strings extracted from the sources right now (babel.cfg: core, inventory, gsp, pos, insurance, hardware,
    templates)."""
    return i18n_tools.extract()


@pytest.fixture(scope="module")
def zh_catalog():
    catalog = i18n_tools.load("zh_CN")
    assert catalog is not None, f"{PO_FILE} is missing. " + FIX
    return catalog


def test_extraction_finds_python_and_template_strings(template):
    files = {path for message in template for path, _line in message.locations}
    assert any(path.startswith("templates/") for path in files), "no strings extracted from the Jinja templates"
    assert any(path.startswith("core/") for path in files), "no strings extracted from core/"
    assert "Log in" in template  # templates/core/login.html
    assert "Quality manager" in template  # core/permissions.py, through lazy_gettext as _l


def test_catalogue_header(zh_catalog):
    assert zh_catalog.locale_identifier == "zh_CN"
    assert zh_catalog.plural_forms == "nplurals=1; plural=0;"


def test_catalogue_is_where_flask_babel_looks(zh_catalog):
    """Flask-Babel turns zh_CN into babel.Locale zh_Hans_CN and gettext looks for that folder, not zh_CN/."""
    from babel import Locale
    from babel.support import Translations

    from core.i18n import compile_catalogs

    compile_catalogs()
    loaded = Translations.load(str(i18n_tools.TRANSLATIONS_DIR), [Locale.parse("zh_CN")], i18n_tools.DOMAIN)
    assert isinstance(loaded, Translations), (
        f"no catalogue found for zh_CN under {i18n_tools.TRANSLATIONS_DIR}: it must be in "
        f"{i18n_tools.catalogue_dir('zh_CN')}/LC_MESSAGES/")
    assert loaded.gettext("Log in") == "登录"


def test_every_string_has_a_chinese_translation(template, zh_catalog):
    missing = i18n_tools.missing_translations(template, zh_catalog)
    assert not missing, (f"{len(missing)} of {len(template)} strings lack a usable zh_CN translation "
                         "(missing, empty or fuzzy):\n" + "\n".join(f"  {p}" for p in missing) + "\n" + FIX)


def test_translations_keep_the_placeholders(zh_catalog):
    wrong = i18n_tools.placeholder_mismatches(zh_catalog)
    assert not wrong, ("zh_CN translations whose %(name)s placeholders differ from the English msgid (each must "
                       "appear, with the same name and type, as often as in the msgid):\n"
                       + "\n".join(f"  {p}" for p in wrong))


def test_placeholder_check_sees_renamed_retyped_dropped_and_lone_percent():
    ok = i18n_tools.placeholder_problem
    assert ok("Only %(have)d left of lot %(lot)s", "批号 %(lot)s 仅剩 %(have)d") is None  # order may change
    assert ok("Lot %(lot)s", "批号 %(lot_no)s")
    assert ok("%(n)d events", "共 %(n)s 条")
    assert ok("%(a)s to %(b)s", "%(a)s")
    assert ok("%(n)d%% off", "减 %(n)d%")
    assert ok("%(n)d%% off", "减 %(n)d%%") is None


def test_check_command_fails_and_names_what_is_missing(monkeypatch, tmp_path, zh_catalog, capsys):
    """`python -m core.i18n_tools check` exits non-zero and lists an untranslated or fuzzy msgid."""
    import copy

    catalog = copy.deepcopy(zh_catalog)
    catalog["Log in"].string = ""
    catalog["Log out"].flags.add("fuzzy")
    monkeypatch.setattr(i18n_tools, "TRANSLATIONS_DIR", tmp_path)
    i18n_tools.save("zh_CN", catalog)
    assert i18n_tools.main(["check"]) == 1
    out = capsys.readouterr().out
    assert "untranslated: 'Log in'" in out and "fuzzy" in out and "'Log out'" in out

    monkeypatch.undo()
    assert i18n_tools.main(["check"]) == 0, capsys.readouterr().out


def test_login_page_is_chinese_by_default_and_english_on_request(client):
    page = client.get("/login")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "登录" in html
    assert "用户名" in html and "密码" in html  # lazy form labels (core/forms.py)
    assert "Log in" not in html

    switched = client.get("/lang/en?next=/login")
    assert switched.status_code == 302

    html = client.get("/login").get_data(as_text=True)
    assert "Log in" in html
    assert "User name" in html and "Password" in html
    assert "登录" not in html

    client.get("/lang/zh_CN?next=/login")
    assert "登录" in client.get("/login").get_data(as_text=True)
