"""The acceptance sampling rule (GSP Annex 4, DOMAIN.md §3.4 and numbers table #17), as a pure function: whole
cases ≤ 2 all, up to 50 three, above 50 one more per further 50 (a part counts as 50); 3 minimum packs from each
opened case, doubled when seal, label, weight or look is abnormal; every part case, at least 1 pack per lot."""
import pytest

from gsp.purchasing import sampling_plan


@pytest.mark.parametrize("cases, to_open", [(1, 1), (2, 2), (3, 3), (50, 3), (51, 4), (100, 4), (101, 5),
                                            (150, 5), (151, 6)])
def test_cases_to_open(cases, to_open):
    plan = sampling_plan(cases, 0)
    assert (plan.cases_to_open, plan.packs_per_case, plan.part_case_packs) == (to_open, 3, 0)
    assert plan.total == to_open * 3


def test_abnormal_cases_double_the_packs_per_case():
    plan = sampling_plan(51, 0, abnormal=True)
    assert (plan.cases_to_open, plan.packs_per_case, plan.total) == (4, 6, 24)
    assert sampling_plan(1, 0, abnormal=True).total == 6


@pytest.mark.parametrize("cases, part_cases, total", [
    (0, 1, 1),  # one opened case: at least one pack
    (0, 4, 4),  # every part case is checked
    (3, 2, 11),  # whole cases and part cases add up
    (0, 0, 1),  # nothing said about cases: treated as one part case, never zero
])
def test_part_cases(cases, part_cases, total):
    assert sampling_plan(cases, part_cases).total == total


def test_the_sample_is_capped_at_what_arrived():
    assert sampling_plan(3, 0, received_packages=5).total == 5  # 9 required, 5 boxes arrived: all of them
    assert sampling_plan(3, 0, received_packages=500).total == 9
    assert sampling_plan(101, 0, abnormal=True, received_packages=1000).total == 30
