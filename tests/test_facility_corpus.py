"""The facility rules against a labelled corpus of real Chinese OSM facilities.

1,600-odd candidates from 12 public extracts of 9 cities (mainland and Traditional-script:
Beijing, Nanjing, Hangzhou, Shanghai, Shenzhen, Taipei, Taichung, Hsinchu, Hong Kong), each
labelled by hand as a planner would count it (tests/corpus/README.md). Per judged category
the precision must be at least 0.95; the table in tests/corpus/RESULTS.md (and the README)
must be what the rules give today.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "corpus"))

import evaluate  # noqa: E402  (tests/corpus/evaluate.py)

# one worker runs every test here: the module's shared runs happen once (pytest --dist loadgroup)
pytestmark = pytest.mark.xdist_group("corpus")

TARGET_PRECISION = 0.95


@pytest.fixture(scope="module")
def table():
    return evaluate.all_outcomes()


def test_corpus_is_large_real_and_varied(table):
    labelled = table[table["label"] != "unsure"]
    assert len(labelled) >= 400
    assert labelled["city"].map(lambda c: c.split("_")[0]).nunique() >= 4
    assert set(table["script"]) == {"Simplified", "Traditional"}
    # and most candidates are not facilities: the rules must keep those out
    facilities = labelled[labelled["label"] != "none"]
    assert len(facilities) >= 300 and len(labelled) - len(facilities) >= 1000
    # every label is a category or none
    known = set(evaluate.JUDGED) | set(evaluate.LISTED) | {"none"}
    assert {k for label in labelled["label"] for k in label.split("|")} <= known


def test_precision_of_every_judged_category(table):
    checked = 0
    for s in evaluate.scores(table, evaluate.JUDGED):
        if s.predicted:
            assert s.precision >= TARGET_PRECISION, (s.category, s.predicted, s.correct)
            checked += s.predicted >= 10
    assert checked >= 7  # clinic, pharmacy, park, sports, school, bank, market, ...


def test_results_file_states_todays_numbers(table):
    """RESULTS.md (and the README's copy of it) is regenerated when the rules change."""
    text = evaluate.report(table)
    assert text in (Path(evaluate.HERE) / "RESULTS.md").read_text(encoding="utf-8")
    assert text in (Path(evaluate.HERE).parent.parent / "README.md").read_text(encoding="utf-8")


def test_held_out_set_is_separate_and_labelled_blind(table):
    """The held-out extracts are other repositories' and other areas'; their first-look figures are kept."""
    dev, held = (evaluate.sources(f) for f in evaluate.SETS.values())
    assert not {s["repository"] for s in dev} & {s["repository"] for s in held}
    assert len(table[(table["set"] == "held-out") & (table["label"] != "unsure")]) >= 400
    assert "before anything was changed for it" in (evaluate.HERE / "heldout" / "FIRST-LOOK.md").read_text("utf-8")


def test_mainland_canteens_are_no_data(table):
    """No mainland extract holds a community canteen or a care home: OSM does not map them
    there. The corpus shows it, and the runs say "no data" for them (tests/test_no_data.py)."""
    mainland = table[table["script"] == "Simplified"]
    assert not mainland["counted"].map(lambda s: "canteen" in s).any()
    assert not mainland["label"].str.contains("canteen").any()
