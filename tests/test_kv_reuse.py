"""Golden and property tests for the pure KV-reuse planner and the thread default (no model needed)."""

import random

import pytest

from starassist.engine.cpu import default_threads, physical_cores
from starassist.engine.kv_reuse import Drop, Evaluate, Keep, Shift, apply_to_list, plan_reuse

PRE, SUF, MID = 1, 3, 2  # <fim_prefix>, <fim_suffix>, <fim_middle>


def psm(prefix, suffix):
    return [PRE, *prefix, SUF, *suffix, MID]


def test_typing_one_token_shifts_the_suffix_and_evaluates_only_the_change():
    prefix, suffix = list(range(100, 140)), list(range(200, 260))
    old = psm(prefix, suffix)
    new = psm(prefix + [999], suffix)
    plan = plan_reuse(old, new, min_chunk=4)
    # golden: keep the prefix, move <fim_suffix>suffix right by one, compute the typed token and <fim_middle>
    assert plan.ops == (Keep(41), Drop(102, 103), Shift(41, 102, 1), Evaluate(41, 42), Evaluate(103, 104))
    assert plan.evaluated == 2 and plan.reused_chunks == 1
    assert apply_to_list(old, new, plan) == new


def test_deleting_shifts_left():
    old = psm(list(range(100, 140)), list(range(200, 260)))
    new = psm(list(range(100, 137)), list(range(200, 260)))
    plan = plan_reuse(old, new)
    assert plan.evaluated == 1  # only <fim_middle>, whose logits we need
    assert any(isinstance(op, Shift) and op.delta == -3 for op in plan.ops)
    assert apply_to_list(old, new, plan) == new


def test_without_shifting_only_the_common_prefix_is_kept():
    old = psm(list(range(100, 140)), list(range(200, 260)))
    new = psm(list(range(100, 141)), list(range(200, 260)))
    plan = plan_reuse(old, new, can_shift=False)
    assert plan.ops == (Keep(41), Drop(41, len(old)), Evaluate(41, len(new)))
    assert plan.evaluated == len(new) - 41 and plan.reused_chunks == 0


def test_same_prompt_reevaluates_the_last_token_only():
    old = psm([5, 6, 7], [8, 9])
    plan = plan_reuse(old, list(old))
    assert plan.evaluated == 1 and apply_to_list(old, old, plan) == old


def test_chunks_shorter_than_the_minimum_are_evaluated():
    old = [PRE, 10, 11, 12, 50, 51, MID]
    new = [PRE, 20, 50, 51, MID]
    plan = plan_reuse(old, new, min_chunk=3)
    assert plan.reused_chunks == 0 and plan.evaluated == 4
    assert apply_to_list(old, new, plan) == new


@pytest.mark.parametrize("seed", range(200))
def test_random_edits_always_rebuild_the_new_prompt(seed):
    rng = random.Random(seed)
    old = [rng.randrange(8) for _ in range(rng.randrange(1, 60))]
    new = list(old)
    for _ in range(rng.randrange(1, 5)):
        at = rng.randrange(len(new) + 1)
        if rng.random() < 0.5 and new:
            del new[at : at + rng.randrange(1, 6)]
        else:
            new[at:at] = [rng.randrange(8) for _ in range(rng.randrange(1, 6))]
    if not new:
        new = [1]
    plan = plan_reuse(old, new, min_chunk=rng.randrange(1, 5))
    assert apply_to_list(old, new, plan) == new
    assert plan.evaluated == sum(op.stop - op.start for op in plan.ops if isinstance(op, Evaluate))
    assert 1 <= plan.evaluated <= len(new)


CPUINFO_2_VCPU_1_CORE_EACH = "processor: 0\nphysical id: 0\ncore id: 0\n\nprocessor: 1\nphysical id: 0\ncore id: 1\n\n"
CPUINFO_HT = "processor: 0\nphysical id: 0\ncore id: 0\n\nprocessor: 1\nphysical id: 0\ncore id: 0\n\n" * 1


def test_threads_default_is_physical_cores_and_never_one_on_a_multicore_machine():
    assert physical_cores(CPUINFO_2_VCPU_1_CORE_EACH) == 2
    assert default_threads(0, CPUINFO_2_VCPU_1_CORE_EACH, logical=2) == 2
    assert physical_cores(CPUINFO_HT) == 1
    assert default_threads(0, CPUINFO_HT, logical=2) == 2  # cpu_count // 2 would give 1
    assert default_threads(0, "", logical=8) == 8
    assert default_threads(3, CPUINFO_HT, logical=2) == 3
    assert default_threads(0, "", logical=1) == 1


def test_contiguous_plans_reuse_after_a_deletion_and_evaluate_only_at_the_end():
    old = psm(list(range(100, 140)), list(range(200, 260)))
    new = psm(list(range(100, 137)), list(range(200, 260)))
    plan = plan_reuse(old, new, contiguous=True)
    assert plan.reused_chunks == 1 and plan.evaluated == 1
    inserted = psm(list(range(100, 141)), list(range(200, 260)))
    plan = plan_reuse(old, inserted, contiguous=True)  # a typed token: nothing after it can be kept
    assert plan.reused_chunks == 0 and plan.evaluated == len(inserted) - 41
    evals = [op for op in plan.ops if isinstance(op, Evaluate)]
    assert evals == [Evaluate(41, len(inserted))]
