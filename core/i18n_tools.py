"""Keep the translation catalogues in step with the source strings (Babel's Python API, no shelling out).

    python -m core.i18n_tools update   # extract into core/translations/messages.pot, then update (or create)
                                       # core/translations/zh_Hans_CN/LC_MESSAGES/messages.po (the zh_CN catalogue,
                                       # in the folder Flask-Babel reads: see catalogue_dir), keeping translations
    python -m core.i18n_tools check    # exit 1, listing msgids with no zh_CN translation, marked fuzzy, or whose
                                       # %(name)s placeholders differ from the English

Source strings (msgids) are English, so English needs no catalogue: Flask-Babel falls back to the msgid.
What is extracted is set in babel.cfg at the repository root; the same extraction can be run with
`pybabel extract -F babel.cfg -k _l -k lazy_gettext -o /tmp/messages.pot .`.
The .po files are compiled to .mo when the app starts (core.i18n.compile_catalogs); .mo files are not committed.
"""
from __future__ import annotations

import io
import re
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from babel import Locale
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po, write_po

from core.config import REPO_ROOT

SOURCE_LOCALE = "en"
TRANSLATED_LOCALES = ("zh_CN",)
DOMAIN = "messages"
MAPPING_FILE = REPO_ROOT / "babel.cfg"
TRANSLATIONS_DIR = REPO_ROOT / "core" / "translations"
TEMPLATE_FILE = TRANSLATIONS_DIR / f"{DOMAIN}.pot"
# gettext, _, ngettext, pgettext… plus Flask-Babel's lazy forms (imported as _l).
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None, "lazy_ngettext": (1, 2),
            "lazy_pgettext": ((1, "c"), 2), "lazy_npgettext": ((1, "c"), 2, 3)}
# A developer's note for translators, written just above the string: `# TRANSLATORS: …`.
COMMENT_TAGS = ("TRANSLATORS:",)
LANGUAGE_NAMES = {"zh_CN": "Simplified Chinese"}
# Header dates change on every run; a catalogue whose messages did not change is not rewritten.
_VOLATILE_HEADER = re.compile(rb'^"(POT-Creation-Date|PO-Revision-Date): .*\\n"\n', re.MULTILINE)
# printf-style conversions as Python's % operator reads them: %(name)s, %(n)d, %s, %.2f, %%.
_CONVERSION = re.compile(r"%(?:\((?P<name>[^)]*)\))?[#0 +-]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[diouxXeEfFgGcrsa%]")


def _project_version() -> str:
    import tomllib

    try:
        with (REPO_ROOT / "pyproject.toml").open("rb") as fh:
            return tomllib.load(fh)["project"]["version"]
    except (OSError, KeyError, ValueError):
        return "0"


def catalogue_dir(locale: str) -> str:
    """The folder name Flask-Babel reads for a locale: Babel's own spelling of it, e.g. zh_CN -> zh_Hans_CN.

    Flask-Babel parses the selected locale with babel.Locale.parse, which adds the likely script to Chinese
    (zh_CN -> zh_Hans_CN), and gettext then looks for that name (and bare "zh"), never for "zh_CN". The app keeps
    calling the language zh_CN (session, config, links); only the folder uses Babel's spelling."""
    return str(Locale.parse(locale))


def po_path(locale: str) -> Path:
    return TRANSLATIONS_DIR / catalogue_dir(locale) / "LC_MESSAGES" / f"{DOMAIN}.po"


def _shown(path: Path) -> str:
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


def extract() -> Catalog:
    """Every translatable string in the sources babel.cfg names, as a template catalogue (no translations)."""
    with MAPPING_FILE.open(encoding="utf-8") as fh:
        method_map, options_map = parse_mapping_cfg(fh, str(MAPPING_FILE))
    template = Catalog(project="Yaofang", version=_project_version(), copyright_holder="Yaofang",
                       msgid_bugs_address="", last_translator="", language_team="",
                       header_comment="# Translatable strings of Yaofang (药房), extracted from the sources named in "
                                      "babel.cfg.\n# Do not edit: regenerate with `python -m core.i18n_tools update`.",
                       charset="utf-8")
    template.msgid_bugs_address = template.last_translator = template.language_team = ""  # not Babel's placeholders
    # Walk only the top-level folders the mapping names (not instance/, bench/, tests/…); skip dot and _ folders.
    roots = {pattern.split("/", 1)[0] for pattern, _method in method_map}
    anywhere = any("*" in root or "?" in root for root in roots)  # e.g. [python: **.py]

    def wanted(dirpath: str) -> bool:
        rel = Path(dirpath).relative_to(REPO_ROOT)
        return ((anywhere or rel.parts[0] in roots)
                and not any(part.startswith((".", "_")) for part in rel.parts))

    for filename, lineno, message, comments, context in extract_from_dir(
            str(REPO_ROOT), method_map, options_map, keywords=KEYWORDS, comment_tags=COMMENT_TAGS,
            strip_comment_tags=True, directory_filter=wanted):
        template.add(message, None, [(filename.replace("\\", "/"), lineno)], auto_comments=comments,
                     context=context)
    return template


def new_catalog(locale: str, template: Catalog) -> Catalog:
    name = LANGUAGE_NAMES.get(locale, locale)
    catalog = Catalog(locale=locale, domain=DOMAIN, project=template.project, version=template.version,
                      copyright_holder="Yaofang", msgid_bugs_address="", last_translator="Yaofang",
                      language_team=f"{name} <{locale}>", charset="utf-8", fuzzy=False,
                      header_comment=f"# {name} ({locale}) translations of Yaofang (药房).\n"
                                     "# Source strings are English. After changing strings in the code, run\n"
                                     "# `python -m core.i18n_tools update`, translate what is new or fuzzy, then\n"
                                     "# `python -m core.i18n_tools check`.",
                      revision_date=datetime.now(timezone.utc))
    catalog.msgid_bugs_address = ""
    catalog.update(template, no_fuzzy_matching=True)
    return catalog


def load(locale: str) -> Catalog | None:
    path = po_path(locale)
    if not path.exists():
        return None
    with path.open("rb") as fh:
        return read_po(fh, locale=locale, domain=DOMAIN)


def render(catalog: Catalog) -> bytes:
    buf = io.BytesIO()
    # No line numbers in the references: files are shared by several people at once and line numbers churn.
    write_po(buf, catalog, width=100, include_lineno=False, ignore_obsolete=True, omit_header=False,
             sort_output=False, sort_by_file=False)
    return buf.getvalue()


def write_if_changed(path: Path, data: bytes) -> bool:
    """Write unless only the header dates would differ. True when the file was written."""
    if path.exists() and _VOLATILE_HEADER.sub(b"", path.read_bytes()) == _VOLATILE_HEADER.sub(b"", data):
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return True


def save(locale: str, catalog: Catalog) -> bool:
    return write_if_changed(po_path(locale), render(catalog))


def update(locales=TRANSLATED_LOCALES, *, out=None) -> dict[str, Catalog]:
    """Extract the template and merge it into each locale's catalogue (created when missing).

    Existing translations are kept; a changed source string is matched to its old translation when close enough
    and marked fuzzy for review; strings no longer in the code are dropped."""
    out = out or sys.stdout
    template = extract()
    wrote = write_if_changed(TEMPLATE_FILE, render(template))
    print(f"{_shown(TEMPLATE_FILE)}: {len(template)} messages{'' if wrote else ' (unchanged)'}",
          file=out)
    result = {}
    for locale in locales:
        catalog = load(locale)
        if catalog is None:
            catalog = new_catalog(locale, template)
        else:
            catalog.update(template)
        wrote = save(locale, catalog)
        problems = find_problems(template, catalog)
        print(f"{_shown(po_path(locale))}: {len(catalog)} messages, {len(problems)} to translate "
              f"or review{'' if wrote else ' (unchanged)'}", file=out)
        result[locale] = catalog
    return result


# --- checks -----------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Problem:
    msgid: str
    issue: str
    locations: tuple[str, ...] = ()

    def __str__(self) -> str:
        where = f"  [{', '.join(self.locations)}]" if self.locations else ""
        return f"{self.issue}: {self.msgid!r}{where}"


def placeholders(text: str) -> Counter:
    """The printf-style conversions in a string, e.g. Counter({'%(lot)s': 1, '%(n)d': 1})."""
    return Counter(m.group(0) for m in _CONVERSION.finditer(text))


def _lone_percent(text: str) -> bool:
    return "%" in _CONVERSION.sub("", text)


def _texts(value) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _where(message) -> tuple[str, ...]:
    return tuple(dict.fromkeys(path for path, _line in message.locations))


def placeholder_problem(msgid: str, translation: str) -> str | None:
    """Why a translation would break formatting with the msgid's variables, or None when it is fine."""
    expected, found = placeholders(msgid), placeholders(translation)
    if found != expected:
        return f"placeholders differ: {sorted(expected)} in the source, {sorted(found)} in {translation!r}"
    if _lone_percent(translation) and not _lone_percent(msgid):
        return f"a lone % in {translation!r} (write %% for a percent sign)"
    return None


def missing_translations(template: Catalog, catalog: Catalog) -> list[Problem]:
    """Messages of the template that the catalogue lacks, leaves empty or marks fuzzy."""
    problems = []
    for message in template:
        if not message.id:
            continue
        msgid = _texts(message.id)[0]
        found = catalog.get(message.id, message.context)
        if found is None:
            problems.append(Problem(msgid, "not in the catalogue (run update)", _where(message)))
        elif not _texts(found.string) or not all(s.strip() for s in _texts(found.string)):
            problems.append(Problem(msgid, "untranslated", _where(message)))
        elif found.fuzzy:
            problems.append(Problem(msgid, "fuzzy (review the translation, then remove the fuzzy flag)",
                                    _where(message)))
    return problems


def placeholder_mismatches(catalog: Catalog) -> list[Problem]:
    """Translations whose %(name)s placeholders differ from their msgid's (each plural form is checked).

    Fuzzy entries are left to missing_translations: they are not used until reviewed."""
    problems = []
    for message in catalog:
        if not message.id or message.fuzzy:
            continue
        ids = _texts(message.id)
        for text in _texts(message.string):
            why = text and placeholder_problem(ids[-1] if len(ids) > 1 else ids[0], text)
            if why:
                problems.append(Problem(ids[0], why, _where(message)))
                break
    return problems


def find_problems(template: Catalog, catalog: Catalog) -> list[Problem]:
    """Everything that keeps the catalogue from being complete and safe to use."""
    return missing_translations(template, catalog) + placeholder_mismatches(catalog)


def check(locales=TRANSLATED_LOCALES, *, out=None) -> int:
    """Print what needs work in each catalogue; 1 when anything does, else 0."""
    out = out or sys.stdout
    template = extract()
    failed = 0
    for locale in locales:
        catalog = load(locale)
        if catalog is None:
            print(f"{_shown(po_path(locale))} is missing: run `python -m core.i18n_tools update`.",
                  file=out)
            failed += 1
            continue
        problems = find_problems(template, catalog)
        for problem in problems:
            print(f"{locale}: {problem}", file=out)
        if problems:
            print(f"{locale}: {len(problems)} of {len(template)} messages need work: run "
                  "`python -m core.i18n_tools update`, translate them in "
                  f"{_shown(po_path(locale))}, and check again.", file=out)
            failed += 1
        else:
            print(f"{locale}: all {len(template)} messages translated.", file=out)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv == ["update"]:
        update()
        return 0
    if argv == ["check"]:
        return check()
    print(__doc__.strip().split("\n\n")[0], file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
