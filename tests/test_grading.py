"""Tests of ntk_course.assignments.grading: every check passes the model solutions of the
assignments and fails, with a message that names the question, the expected kind or shape and the
size of the error but no reference value, on wrong answers of several kinds (shape, NaN, a plausible
wrong formula, a non-callable, a stub, a crash); ``require``, the body of the Otter tests, raises
with the same message, on given seeds, for a whole question or one of its parts."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch

from ntk_course import nngp, ntk
from ntk_course.assignments import (
    STRICT_ENV,
    CheckResult,
    check,
    describe,
    grading,
    questions,
    require,
)
from ntk_course.assignments.handouts import assignment_paths, reference_answers


@pytest.fixture(autouse=True)
def lenient_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests inspect the verdict a failed check returns; tests/run_all.sh exports strict mode
    (failed checks raise) for the solved assignments, so turn it off here unless a test sets it."""
    monkeypatch.delenv(STRICT_ENV, raising=False)


@pytest.fixture(scope="module")
def answers() -> dict[str, object]:
    """The model solutions, taken from the assignment sources themselves."""
    out: dict[str, object] = {}
    for path in assignment_paths():
        out.update(reference_answers(path))
    return out


def no_values(message: str) -> None:
    """A verdict reports errors and shapes, never an array or a long list of numbers."""
    assert "tensor(" not in message and "array(" not in message and "[[" not in message
    numbers = re.findall(r"-?\d+\.\d{4,}", message)
    assert not numbers, f"long decimals (possible reference values) in the message: {numbers}"


def test_every_question_has_a_model_solution(answers: dict[str, object]) -> None:
    assert sorted(answers) == sorted(questions())
    assert len(questions()) >= 4 * 3


@pytest.mark.parametrize("question", grading.questions())
def test_model_solution_passes(
    question: str, answers: dict[str, object], capsys: pytest.CaptureFixture[str]
) -> None:
    result = check(question, answers[question])
    printed = capsys.readouterr().out
    assert result, printed
    assert printed.startswith(f"✓ {question}")
    assert result.answered and result.question == question
    no_values(printed)


def test_unknown_question_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown question 'a9\.q9'.*a1\.q1.*a4\.q5"):
        check("a9.q9", lambda: None)
    with pytest.raises(ValueError, match="unknown question"):
        check(3, lambda: None)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------
# Wrong answers to the kernel questions (a1.q3): each failure says what and by how much
# --------------------------------------------------------------------------------------------------
def ntk_without_sigma(
    x: torch.Tensor, y: torch.Tensor, depth: int, beta: float = 0.1
) -> torch.Tensor:
    """Theta^(l+1) = Theta^(l) Sigma_dot^(l+1): the NTK recursion without its + Sigma^(l+1) term."""
    theta = x @ y.T / x.shape[1] + beta**2
    for ell in range(1, depth):
        # Sigma_dot^(l+1) for ReLU is (pi - angle)/(2 pi) of Sigma^(l); compute it from the
        # library's Sigma^(l).
        s, sx, sy = (
            nngp(x, y, depth=ell, beta=beta),
            nngp(x, depth=ell, beta=beta).diagonal(),
            nngp(y, depth=ell, beta=beta).diagonal(),
        )
        cos = (s / (sx[:, None] * sy[None, :]).sqrt()).clamp(-1, 1)
        theta = theta * (math.pi - torch.arccos(cos)) / (2 * math.pi)
    return theta


WRONG_NTKS = {
    "without the Sigma term": (
        ntk_without_sigma,
        r"relative error .*hint: your numbers match the recursion without the \+ Sigma",
    ),
    "without 1/n0": (
        lambda x, y, depth, beta=0.1: ntk(
            x * math.sqrt(x.shape[1]), y * math.sqrt(x.shape[1]), depth=depth, beta=beta
        ),
        r"already wrong at depth 1|without the 1/n0",
    ),
    "the NNGP": (
        lambda x, y, depth, beta=0.1: nngp(x, y, depth=depth, beta=beta),
        r"match the NNGP Sigma\^\(L\), not the NTK",
    ),
    "twice the NTK": (
        lambda x, y, depth, beta=0.1: 2 * ntk(x, y, depth=depth, beta=beta),
        r"constant factor of about 2",
    ),
    "transposed": (
        lambda x, y, depth, beta=0.1: ntk(x, y, depth=depth, beta=beta).T,
        r"has shape \(\d, \d\); expected \(\d, \d\)",
    ),
    "a vector": (
        lambda x, y, depth, beta=0.1: ntk(x, y, depth=depth, beta=beta)[0],
        r"has shape \(\d,\); expected \(\d, \d\)",
    ),
    "NaN": (
        lambda x, y, depth, beta=0.1: ntk(x, y, depth=depth, beta=beta) * float("nan"),
        r"non-finite entries \(NaN or inf\)",
    ),
    "no return": (
        lambda x, y, depth, beta=0.1: None,
        r"is None: did the function forget to `return`",
    ),
    "a crash": (lambda x, y, depth, beta=0.1: x @ y, r"raised RuntimeError"),
    "a list of lists": (lambda x, y, depth, beta=0.1: [["a"]], r"must be a real array"),
}


@pytest.mark.parametrize("kind", list(WRONG_NTKS))
def test_wrong_ntk_fails_with_a_clear_message(
    kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    answer, pattern = WRONG_NTKS[kind]
    result = check("a1.q3", answer)
    printed = capsys.readouterr().out
    assert not result and result.answered
    assert printed.startswith("✗ a1.q3 (the ReLU NTK Theta^(L))")
    assert re.search(pattern, printed, re.S), printed
    no_values(printed)
    if (
        result.error is not None
    ):  # a wrong formula: the size of the error is reported against the tolerance
        assert result.error > result.tolerance and "tolerance" in printed


@pytest.mark.parametrize("answer", [3, None, "relu_ntk", torch.ones(2, 2)])
def test_a_non_callable_is_refused_with_the_signature(
    answer: object, capsys: pytest.CaptureFixture[str]
) -> None:
    result = check("a1.q3", answer)
    printed = capsys.readouterr().out
    assert not result
    assert "expected a function relu_ntk(x, y, depth, beta)" in printed
    assert "expected: a function relu_ntk" in printed  # the kind and shape of a right answer


def test_a_stub_is_not_answered_yet(capsys: pytest.CaptureFixture[str]) -> None:
    def relu_ntk(x, y, depth, beta=0.1):
        raise NotImplementedError("Question a1.q3: write your answer here")

    result = check("a1.q3", relu_ntk)
    printed = capsys.readouterr().out
    assert not result and not result.answered
    assert (
        printed.startswith("✗ a1.q3")
        and "not answered yet" in printed
        and "relu_ntk raises NotImplementedError" in printed
    )
    assert not check("a1.q3", ...).answered  # the placeholder ... of a value answer


def test_not_answered_helper_of_a_later_question_stops_the_check(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def parameter_jacobian(model, x):
        raise NotImplementedError

    def empirical_ntk_by_hand(model, x, y):  # answers a2.q2 by calling the unanswered a2.q1
        return parameter_jacobian(model, x) @ parameter_jacobian(model, y).T

    assert not check("a2.q2", empirical_ntk_by_hand).answered


# --------------------------------------------------------------------------------------------------
# Wrong answers to other questions
# --------------------------------------------------------------------------------------------------
def test_flow_without_the_mean_cost_is_diagnosed(
    answers: dict[str, object], capsys: pytest.CaptureFixture[str]
) -> None:
    flow_train = answers["a3.q1"]
    result = check("a3.q1", lambda K, y, f0, t: flow_train(K * K.shape[0], y, f0, t))
    printed = capsys.readouterr().out
    assert not result and "without the 1/N of the paper's cost" in printed
    assert re.search(r"relative error \S+ \(tolerance 1\.0e-08\)", printed)


def test_series_with_a_instead_of_a_squared_is_diagnosed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert not check("a4.q2", lambda a, rho: np.polynomial.polynomial.polyval(rho, a))
    assert "with a_i in place of a_i^2" in capsys.readouterr().out


def test_early_stopping_at_the_last_time_is_diagnosed(capsys: pytest.CaptureFixture[str]) -> None:
    assert not check("a3.q4", lambda K, K_test, y, y_test, t: float(t[-1]))
    printed = capsys.readouterr().out
    assert "excess test error" in printed and "you returned the last time" in printed
    assert not check("a3.q4", lambda K, K_test, y, y_test, t: 0.123456)
    assert "not one of the times in t" in capsys.readouterr().out


def test_monte_carlo_covariance_with_the_ntk_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    result = check(
        "a1.q4", lambda x, width, depth, beta, n_networks, seed: ntk(x, depth=depth, beta=beta)
    )
    printed = capsys.readouterr().out
    assert not result and "compared with the same draw of networks" in printed
    assert "one NTKMLP with ensemble=ensemble" in printed


def test_deviation_of_the_wrong_size_reports_the_factor(
    answers: dict[str, object], capsys: pytest.CaptureFixture[str]
) -> None:
    deviation = answers["a2.q4"]
    assert not check("a2.q4", lambda *args: 3 * deviation(*args))
    assert "constant factor of about 3" in capsys.readouterr().out


def test_boolean_and_integer_answers(capsys: pytest.CaptureFixture[str]) -> None:
    assert not check("a4.q4", lambda b: True)
    printed = capsys.readouterr().out
    assert "wrong verdict" in printed
    assert re.search(r"✗ a polynomial of degree \d, K = \d+", printed)
    assert not check("a4.q4", lambda b: "yes")
    assert "must return True or False" in capsys.readouterr().out
    assert not check(
        "a4.q5",
        lambda degree, n0, depth: math.comb(n0 + degree ** (depth - 1) - 1, degree ** (depth - 1)),
    )
    assert "your bound is too small" in capsys.readouterr().out


def test_pair_answers_must_be_pairs(capsys: pytest.CaptureFixture[str]) -> None:
    assert not check("a1.q1", lambda q_xx, q_xy, q_yy: q_xy)
    assert "must return a pair" in capsys.readouterr().out
    assert not check("a1.q5", lambda sq_norm, n0, depth: sq_norm / n0)
    assert "must return a pair of numbers" in capsys.readouterr().out


def test_arccos_without_clipping_is_caught_at_correlation_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def relu_expectations(q_xx, q_xy, q_yy):
        c = q_xy / (q_xx * q_yy).sqrt() * (1 + 1e-15)  # rounds just above one at x = x'
        phi = torch.arccos(c)
        return (q_xx * q_yy).sqrt() * (torch.sin(phi) + (math.pi - phi) * c) / (2 * math.pi), (
            math.pi - phi
        ) / (2 * math.pi)

    assert not check("a1.q1", relu_expectations)
    assert "clip it to [-1, 1] or form the angle with atan2" in capsys.readouterr().out


# --------------------------------------------------------------------------------------------------
# The result object and the strict mode
# --------------------------------------------------------------------------------------------------
def test_result_is_bool_like_and_displays_once(
    answers: dict[str, object], capsys: pytest.CaptureFixture[str]
) -> None:
    result = check("a4.q5", answers["a4.q5"])
    assert isinstance(result, CheckResult) and bool(result) is True
    capsys.readouterr()
    result._ipython_display_()  # already printed by check: not again
    assert capsys.readouterr().out == ""
    quiet = check("a4.q5", answers["a4.q5"], verbose=False)
    assert capsys.readouterr().out == ""
    quiet._ipython_display_()
    assert capsys.readouterr().out.startswith("✓ a4.q5")
    assert str(quiet).startswith("✓ a4.q5") and "passed=True" in repr(quiet)


def test_strict_mode_raises_on_failure(
    monkeypatch: pytest.MonkeyPatch, answers: dict[str, object]
) -> None:
    monkeypatch.setenv(STRICT_ENV, "1")
    assert check("a4.q5", answers["a4.q5"], verbose=False)
    with pytest.raises(AssertionError, match="✗ a4.q5"):
        check("a4.q5", lambda degree, n0, depth: 1, verbose=False)


def test_inputs_change_from_call_to_call_but_not_from_run_to_run() -> None:
    seeds = []
    for _ in range(3):
        seeds.append(grading._next_seed("a1.q2"))
    assert len(set(seeds)) == 3
    assert grading._next_seed.__doc__ and "reproducible" in grading._next_seed.__doc__


def test_describe_names_the_answer() -> None:
    assert describe("a3.q2").startswith(
        "a3.q2 (the least-squares flow off the training points): a function flow_test("
    )


# --------------------------------------------------------------------------------------------------
# Seeds, require and parts: what the Otter tests of the handouts call
# --------------------------------------------------------------------------------------------------
def test_a_seed_fixes_the_inputs_without_using_up_the_fresh_ones(
    capsys: pytest.CaptureFixture[str],
) -> None:
    wrong = WRONG_NTKS["without the Sigma term"][0]
    calls = dict(grading._CALLS)
    first, again, other = (check("a1.q3", wrong, seed=s).message for s in (11, 11, 12))
    assert (
        first == again and first != other
    )  # the inputs (their shapes in the labels) follow the seed
    assert grading._CALLS == calls
    for bad in (-1, 2**31, 1.5, True, "3"):
        with pytest.raises(ValueError, match=r"seed must be an integer in \[0, 2\*\*31\)"):
            check("a1.q3", wrong, seed=bad)  # type: ignore[arg-type]


def test_require_raises_with_the_message_of_check(answers: dict[str, object]) -> None:
    assert require("a1.q3", answers["a1.q3"], seed=5) is None
    with pytest.raises(
        AssertionError,
        match=r"(?s)^✗ a1\.q3 .*hint: your numbers match the recursion without the \+ Sigma",
    ):
        require("a1.q3", WRONG_NTKS["without the Sigma term"][0], seed=5)
    with pytest.raises(AssertionError, match="not answered yet"):
        require("a1.q3", ..., seed=5)


def test_require_grades_each_part_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        STRICT_ENV, "1"
    )  # strict mode concerns check(), never the part a test asks for
    wrong = WRONG_NTKS["without the Sigma term"][0]  # right at depth 1 only, where Theta = Sigma
    require("a1.q3", wrong, seed=7, part="the base case (depth 1)")
    with pytest.raises(AssertionError, match=r"part 'the recursion \(depth > 1\)' of a1\.q3"):
        require("a1.q3", wrong, seed=7, part="the recursion (depth > 1)")
    with pytest.raises(
        AssertionError, match="must return a pair"
    ):  # no input reached: no part passes
        require("a1.q5", lambda sq_norm, n0, depth: 1.0, seed=7, part="Sigma^(L)(x, x)")
    with pytest.raises(
        ValueError, match=r"a1\.q3 has no part 'depth 9'; its parts are \['the base case"
    ):
        require("a1.q3", wrong, seed=7, part="depth 9")


@pytest.mark.parametrize("question", [q for q in grading.questions() if grading.QUESTIONS[q].parts])
def test_parts_split_the_inputs_of_their_question(
    question: str, answers: dict[str, object]
) -> None:
    """Every input of the model answer's verdict belongs to exactly one part."""
    q = grading.QUESTIONS[question]
    cases = check(question, answers[question], verbose=False, seed=3).cases
    assert cases and q.points >= 1 + len(q.parts)
    for label, _ in cases:
        assert sum(bool(re.match(pattern, label)) for _, pattern in q.parts) == 1, label


def test_a1_q4_compares_with_the_same_draw_so_a_network_without_biases_fails(
    answers: dict[str, object],
) -> None:
    """With a Monte-Carlo window a network without biases passed (errors 0.16 and 0.076 against a
    tolerance of 0.28); the same draw of networks, compared to 1e-5, leaves it no chance."""
    from ntk_course.mlp import NTKMLP

    def without_biases(x, width, depth, beta, ensemble, seed):
        widths = [x.shape[1]] + [width] * (depth - 1) + [1]
        nets = NTKMLP(widths, beta=0.0, ensemble=ensemble,
                      generator=torch.Generator().manual_seed(seed))  # fmt: skip
        with torch.no_grad():
            f = nets(x)[..., 0].double()
        return f.T @ f / ensemble

    for seed in range(3):
        assert check("a1.q4", answers["a1.q4"], seed=seed, verbose=False)
        wrong = check("a1.q4", without_biases, seed=seed, verbose=False)
        assert not wrong and "your networks have no biases" in wrong.message


def test_a1_q1_tests_the_clipping_it_asks_for(answers: dict[str, object]) -> None:
    """An arccos of the unclipped cosine is NaN where rounding pushes it past 1: q1 itself fails,
    saying to clip, instead of q2 and q3 failing later."""

    def unclipped(q_xx, q_xy, q_yy):
        s = (q_xx * q_yy).sqrt()
        theta = torch.arccos(q_xy / s)
        e_s = s * (torch.sin(theta) + (math.pi - theta) * torch.cos(theta)) / (2 * math.pi)
        return e_s, (math.pi - theta) / (2 * math.pi)

    assert check("a1.q1", answers["a1.q1"], verbose=False)
    wrong = check("a1.q1", unclipped, verbose=False)
    assert not wrong and "clip it to [-1, 1]" in wrong.message and "a1.q1" in wrong.message
