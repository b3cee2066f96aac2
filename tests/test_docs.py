"""The formula maps (docs/formulas.md and docs/zh/formulas.md): every link resolves to a name that exists,
and the two languages list the same formulas in the same order."""
from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAPS = {"en": ROOT / "docs" / "formulas.md", "zh": ROOT / "docs" / "zh" / "formulas.md"}


def entries(file: Path) -> list:
    """(anchor, formulas, code names, test names) for each '## <a id=...>' section of a map."""
    text = file.read_text(encoding="utf-8")
    out = []
    for section in re.split(r"\n(?=## <a id=)", text)[1:]:
        anchor = re.match(r'## <a id="([^"]+)">', section).group(1)
        formulas = re.findall(r"\$\$(.+?)\$\$", section, flags=re.S)
        names = re.findall(r"`(shendu\.[\w.]+)`", section)
        tests = re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", section)
        out.append((anchor, formulas, names, tests))
    return out


def resolve(dotted: str):
    """Import the longest module prefix of ``dotted``, then follow attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ModuleNotFoundError(dotted)


@pytest.mark.parametrize("lang", sorted(MAPS))
def test_every_link_of_the_formula_map_resolves(lang):
    found = entries(MAPS[lang])
    assert len(found) >= 30
    for anchor, formulas, names, tests in found:
        assert formulas, f"{lang}: section {anchor!r} has no formula"
        assert names and tests, f"{lang}: section {anchor!r} must name the code that computes it and a test"
        for name in names:
            try:
                resolve(name)
            except (ImportError, AttributeError) as e:
                pytest.fail(f"{MAPS[lang].name} [{anchor}]: {name} does not exist ({e})")
        for path, test in tests:
            source = ROOT / path
            assert source.is_file(), f"{lang} [{anchor}]: {path} does not exist"
            assert re.search(rf"^def {test}\(", source.read_text(encoding="utf-8"), flags=re.M), \
                f"{lang} [{anchor}]: {path} has no test named {test}"


def _latex(formula: str) -> str:
    """A formula with the words inside \\text{...} removed: those are translated, the mathematics is not."""
    return " ".join(re.sub(r"\\text\{[^}]*\}", " ", formula).split())


def test_both_languages_list_the_same_formulas_and_links():
    en, zh = entries(MAPS["en"]), entries(MAPS["zh"])
    assert [e[0] for e in en] == [z[0] for z in zh], "the two maps list different sections"
    for (anchor, f_en, n_en, t_en), (_, f_zh, n_zh, t_zh) in zip(en, zh):
        assert [_latex(f) for f in f_en] == [_latex(f) for f in f_zh], f"[{anchor}]: the formulas differ"
        assert n_en == n_zh and t_en == t_zh, f"[{anchor}]: the links differ"


def test_the_chinese_readme_exists_and_points_at_the_formula_map():
    text = (ROOT / "README.zh-CN.md").read_text(encoding="utf-8")
    assert "docs/zh/formulas.md" in text and "python -m shendu demo" in text
