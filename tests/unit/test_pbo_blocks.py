"""PBO's row blocks: the paper's equal blocks (leading T mod S rows dropped) by default, and
``numpy.array_split`` over every row as an option, on a matrix small enough to check by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from research.evaluation.overfitting import (
    pbo_blocks,
    probability_of_backtest_overfitting,
    selection_evidence,
)

# Five rows, two configs, S = 2. Row 0 is the "warm-up" row (5 mod 2 = 1 row is dropped).
#                 c0    c1
HAND = np.array(
    [
        [-10.0, 4.0],  # row 0: only array_split's first block sees it
        [1.0, 0.0],
        [3.0, 2.0],
        [1.0, 0.0],
        [3.0, 2.0],
    ]
)


def test_equal_blocks_drop_the_leading_remainder_and_array_split_keeps_every_row() -> None:
    assert [b.tolist() for b in pbo_blocks(10, 4, "equal")] == [[2, 3], [4, 5], [6, 7], [8, 9]]
    assert [b.tolist() for b in pbo_blocks(10, 4, "array_split")] == [
        [0, 1, 2],
        [3, 4, 5],
        [6, 7],
        [8, 9],
    ]
    assert [b.tolist() for b in pbo_blocks(8, 4, "equal")] == [[0, 1], [2, 3], [4, 5], [6, 7]]


def test_equal_blocks_on_the_hand_matrix_give_pbo_zero() -> None:
    # Blocks rows 1-2 and 3-4. In each, c0 = (1, 3): mean 2, std 1, Sharpe 2; c1 = (0, 2):
    # Sharpe 1. Whichever half trains, c0 wins and is also best out of sample: rank 2 of 2,
    # omega = 2/3, logit = ln 2 > 0 in both splits, so PBO = 0.
    result = probability_of_backtest_overfitting(HAND, n_splits=2)
    assert result.pbo == 0.0
    np.testing.assert_allclose(result.logits, [math.log(2), math.log(2)])
    np.testing.assert_allclose(result.is_sharpe, [2.0, 2.0])


def test_array_split_blocks_on_the_hand_matrix_give_pbo_one() -> None:
    # Blocks rows 0-2 and 3-4. Rows 0-2: c0 = (-10, 1, 3), mean -2, std sqrt(98/3), Sharpe
    # -2/sqrt(98/3); c1 = (4, 0, 2), mean 2, std sqrt(8/3), Sharpe 2/sqrt(8/3). Training on rows
    # 0-2 picks c1, which is worse on rows 3-4 (1 < 2); training on rows 3-4 picks c0, which is
    # worse on rows 0-2. Both winners rank 1 of 2: omega = 1/3, logit = -ln 2, PBO = 1.
    result = probability_of_backtest_overfitting(HAND, n_splits=2, blocks="array_split")
    assert result.pbo == 1.0
    np.testing.assert_allclose(result.logits, [-math.log(2), -math.log(2)])
    np.testing.assert_allclose(sorted(result.is_sharpe), [2.0 / math.sqrt(8.0 / 3.0), 2.0])
    np.testing.assert_allclose(sorted(result.oos_sharpe), [-2.0 / math.sqrt(98.0 / 3.0), 1.0])


def test_the_default_is_equal_blocks_and_the_evidence_records_the_convention() -> None:
    rng = np.random.default_rng(3)
    matrix = rng.normal(0.0, 0.01, (101, 6))  # 101 mod 4 = 1: the conventions differ
    default = selection_evidence(matrix, n_splits=4)
    assert default["pbo_blocks"] == "equal"
    equal = probability_of_backtest_overfitting(matrix[1:], n_splits=4, blocks="array_split")
    assert default["pbo"] == equal.pbo  # equal blocks of the rows after the dropped one
    split = selection_evidence(matrix, n_splits=4, pbo_blocks="array_split")
    assert split["pbo_blocks"] == "array_split"


def test_an_unknown_block_convention_is_refused() -> None:
    with pytest.raises(ValueError, match="blocks must be one of equal, array_split"):
        probability_of_backtest_overfitting(HAND, n_splits=2, blocks="random")
