"""ScipyOptimizerInterface (contrib-spec §2.2) in graph mode and TF 2 mode.

Expected optima are worked out by hand in comments; the method sweep runs the 2-D Rosenbrock
function 100 (y - x**2)**2 + (1 - x)**2, whose only minimum is (1, 1) with value 0.
"""

from __future__ import annotations

import copy
import logging

import numpy as np
import pytest
import scipy.optimize

from olexplore._tensorflow import tf
from olexplore.opt.scipy_optimizer import ScipyOptimizerInterface
from tests.opt.test_external_optimizer import MODES, Harness


@pytest.fixture(params=MODES)
def harness(request):
    with Harness.start(request.param) as harness:
        yield harness


def rosenbrock(x, b=100.0):
    return b * (x[1] - x[0] ** 2) ** 2 + (1.0 - x[0]) ** 2


# Options that bring every method within 1e-5 of (1, 1) from (-1.2, 1) in float64.
METHOD_KWARGS = {
    "L-BFGS-B": {},
    "SLSQP": {"tol": 1e-12},
    "TNC": {"tol": 1e-12},
    "Nelder-Mead": {"options": {"xatol": 1e-8, "fatol": 1e-12, "maxiter": 2000}},
    "Powell": {"tol": 1e-10},
    "CG": {},
    "BFGS": {},
    "Newton-CG": {},
    "COBYLA": {"tol": 1e-8, "options": {"maxiter": 3000}},
    "trust-constr": {},
}


@pytest.mark.parametrize("method", list(METHOD_KWARGS))
def test_every_scipy_method_minimizes_rosenbrock(harness, method, recwarn):
    # COBYLA needs > 5,000 evaluations at b = 100; b = 1 has the same minimum (1, 1).
    b = 1.0 if method == "COBYLA" else 100.0
    vector = tf.Variable([-1.2, 1.0], dtype=tf.float64, name="vector")
    optimizer = ScipyOptimizerInterface(
        harness.expr(lambda: rosenbrock(vector, b)), method=method, **METHOD_KWARGS[method]
    )
    returned = harness.minimize(optimizer)
    np.testing.assert_allclose(harness.value(vector), [1.0, 1.0], atol=1e-4)
    assert optimizer.result.fun == pytest.approx(0.0, abs=1e-8)
    np.testing.assert_array_equal(optimizer.result.x, harness.value(vector))
    assert returned is (None if harness.graph_mode else optimizer.result)
    # Gradient-free methods get no jac=True, so SciPy has nothing to warn about.
    assert not [w for w in recwarn if "gradient information" in str(w.message)]


def test_float32_default_method_as_in_tf1(harness):
    # TF 1's test_unconstrained: 5-D Rosenbrock from zeros, float32, default L-BFGS-B.
    x = tf.Variable(tf.zeros(5), name="x")

    def loss():
        return tf.reduce_sum(100.0 * tf.square(x[1:] - tf.square(x[:-1])) + tf.square(1.0 - x[:-1]))

    optimizer = ScipyOptimizerInterface(harness.expr(loss))
    harness.minimize(optimizer)
    np.testing.assert_allclose(harness.value(x), np.ones(5), atol=1e-4)
    assert optimizer.result.message.startswith("CONVERGENCE")  # L-BFGS-B's own message


def test_seed_examples(harness):
    vector = tf.Variable([7.0, 7.0], name="vector")
    loss = harness.expr(lambda: tf.reduce_sum(tf.square(vector)))
    harness.minimize(ScipyOptimizerInterface(loss, options={"maxiter": 100}))
    np.testing.assert_allclose(harness.value(vector), [0.0, 0.0], atol=1e-5)

    constrained = tf.Variable([7.0, 7.0], name="constrained")
    optimizer = ScipyOptimizerInterface(
        harness.expr(lambda: tf.reduce_sum(tf.square(constrained))),
        equalities=[harness.expr(lambda: constrained[1] - 1.0)],  # y = 1
        inequalities=[harness.expr(lambda: constrained[0] - 1.0)],  # x >= 1
        method="SLSQP",
    )
    harness.minimize(optimizer)
    np.testing.assert_allclose(harness.value(constrained), [1.0, 1.0], atol=1e-5)

    bounded = tf.Variable([7.0, 7.0], name="bounded")
    key = bounded if harness.graph_mode else "bounded"
    optimizer = ScipyOptimizerInterface(
        harness.expr(lambda: tf.reduce_sum(tf.square(bounded))),
        var_to_bounds={key: ([1, 2], np.inf)},
    )
    harness.minimize(optimizer)
    np.testing.assert_allclose(harness.value(bounded), [1.0, 2.0], atol=1e-6)


# trust-constr, an interior-point method, stops ~1e-3 short of active bounds: not used here.
@pytest.mark.parametrize("method", ["L-BFGS-B", "TNC", "SLSQP"])
def test_bounds_as_scalars_vectors_matrices_and_none(harness, method):
    target = np.array([-3.0, 0.0, 3.0])
    scalar_bounded = tf.Variable(np.zeros(3), name="a")
    vector_bounded = tf.Variable(np.zeros(3), name="b")
    half_bounded = tf.Variable(np.zeros(3), name="c")
    matrix = tf.Variable(np.zeros((2, 3)), name="m")
    free = tf.Variable([0.0, 0.0], dtype=tf.float64, name="free")
    matrix_target = np.array([[-3.0, 0.0, 3.0], [3.0, 0.0, -3.0]])

    def loss():
        total = tf.reduce_sum((scalar_bounded - target) ** 2)
        total += tf.reduce_sum((vector_bounded - target) ** 2)
        total += tf.reduce_sum((half_bounded - target) ** 2)
        total += tf.reduce_sum((matrix - matrix_target) ** 2)
        return total + tf.reduce_sum((free - [5.0, -5.0]) ** 2)

    bounds = [(-1, 1), ([-5, 0.5, -5], [5, 5, 2]), (None, 0), ([-2, -1, 0], [[1], [2]])]
    variables = [scalar_bounded, vector_bounded, half_bounded, matrix]
    if harness.graph_mode:
        var_to_bounds = dict(zip(variables, bounds, strict=True))
    else:
        var_to_bounds = {"a": bounds[0], vector_bounded.ref(): bounds[1], "c:0": bounds[2]}
        var_to_bounds["m"] = bounds[3]
    options = {"tol": 1e-10} if method == "SLSQP" else {}  # TNC's line search fails at 1e-10
    optimizer = ScipyOptimizerInterface(
        harness.expr(loss), var_to_bounds=var_to_bounds, method=method, **options
    )
    harness.minimize(optimizer)
    # Separable: each element goes to its target clipped to its bounds.
    expected = {
        scalar_bounded.name: [-1.0, 0.0, 1.0],  # clip(target, -1, 1)
        vector_bounded.name: [-3.0, 0.5, 2.0],  # clip(target, [-5, .5, -5], [5, 5, 2])
        half_bounded.name: [-3.0, 0.0, 0.0],  # min(target, 0)
        matrix.name: [[-2.0, 0.0, 1.0], [2.0, 0.0, 0.0]],  # lows per column, highs per row
        free.name: [5.0, -5.0],  # no bounds
    }
    for variable in [*variables, free]:
        np.testing.assert_allclose(harness.value(variable), expected[variable.name], atol=1e-5)


@pytest.mark.filterwarnings("ignore:delta_grad == 0.0:UserWarning")  # trust-constr, quadratic
@pytest.mark.parametrize(
    ("method", "with_inequality", "expected"),
    [
        # min (x - 2)**2 + (y - 1)**2 with x + y = 1: x - 2 = y - 1, so (1, 0);
        # adding x <= 0.5 makes it active: (0.5, 0.5).
        ("SLSQP", False, [1.0, 0.0]),
        ("SLSQP", True, [0.5, 0.5]),
        ("trust-constr", False, [1.0, 0.0]),  # it stops ~4e-4 short of an active inequality
    ],
)
def test_constrained_minimization(harness, method, with_inequality, expected):
    point = tf.Variable([0.0, 0.0], dtype=tf.float64, name="point")
    optimizer = ScipyOptimizerInterface(
        harness.expr(lambda: (point[0] - 2.0) ** 2 + (point[1] - 1.0) ** 2),
        equalities=[harness.expr(lambda: point[0] + point[1] - 1.0)],
        inequalities=[harness.expr(lambda: 0.5 - point[0])] if with_inequality else None,
        method=method,
    )
    harness.minimize(optimizer)
    np.testing.assert_allclose(harness.value(point), expected, atol=1e-5)


def test_cobyla_with_an_inequality(harness):
    # min (x - 2)**2 + (y - 1)**2 with x + y <= 1: project (2, 1) onto the half-plane,
    # (2, 1) - (3 - 1) / 2 * (1, 1) = (1, 0).
    point = tf.Variable([0.0, 0.0], dtype=tf.float64, name="point")
    optimizer = ScipyOptimizerInterface(
        harness.expr(lambda: (point[0] - 2.0) ** 2 + (point[1] - 1.0) ** 2),
        inequalities=[harness.expr(lambda: 1.0 - point[0] - point[1])],
        method="COBYLA",
        tol=1e-10,
    )
    harness.minimize(optimizer)
    np.testing.assert_allclose(harness.value(point), [1.0, 0.0], atol=1e-6)


def test_callbacks_and_fetches(harness):
    vector = tf.Variable([-1.2, 1.0], dtype=tf.float64, name="vector")
    loss = harness.expr(lambda: rosenbrock(vector))
    fetches = [loss, vector] if harness.graph_mode else [loss, lambda: vector]
    steps, evaluations = [], []
    optimizer = ScipyOptimizerInterface(loss)
    harness.minimize(
        optimizer,
        fetches=fetches,
        step_callback=steps.append,
        loss_callback=lambda *fetched: evaluations.append(fetched),
    )
    result = optimizer.result
    assert len(steps) == result.nit  # once per L-BFGS-B iteration
    assert all(step.dtype == np.float64 for step in steps)
    np.testing.assert_array_equal(steps[-1], result.x)
    assert len(evaluations) == result.nfev  # once per loss-and-gradient evaluation
    # 100 * (1 - 1.44)**2 + 2.2**2 = 19.36 + 4.84 at the start.
    assert evaluations[0][0] == pytest.approx(24.2)
    np.testing.assert_array_equal(evaluations[0][1], [-1.2, 1.0])
    for fetched_loss, fetched_vector in evaluations:  # fetches are read at each candidate
        assert fetched_loss == pytest.approx(rosenbrock(fetched_vector), rel=1e-12)
    assert len({tuple(v) for _, v in evaluations}) > 10


def test_trust_constr_step_callback_takes_only_the_vector(harness):
    vector = tf.Variable([-1.2, 1.0], dtype=tf.float64, name="vector")
    steps = []
    optimizer = ScipyOptimizerInterface(
        harness.expr(lambda: rosenbrock(vector)), method="trust-constr"
    )
    harness.minimize(optimizer, step_callback=lambda xk: steps.append(xk))
    assert len(steps) == optimizer.result.nit
    np.testing.assert_allclose(steps[-1], [1.0, 1.0], atol=1e-6)


def test_scipy_receives_float64_and_the_tf1_arguments(harness, monkeypatch):
    vector = tf.Variable([3.0, -1.0], name="vector")  # float32, as most TF models
    seen = {}
    real_minimize = scipy.optimize.minimize

    def spy(fun, x0, **kwargs):
        seen.update(x0=x0, kwargs=kwargs, value=fun(x0))
        seen["constraints"] = [
            (c["type"], c["fun"](x0), c["jac"](x0)) for c in kwargs["constraints"]
        ]
        return real_minimize(fun, x0, **kwargs)

    monkeypatch.setattr(scipy.optimize, "minimize", spy)
    optimizer = ScipyOptimizerInterface(
        harness.expr(lambda: tf.reduce_sum(tf.square(vector))),
        inequalities=[harness.expr(lambda: vector[0] - 1.0)],
        equalities=[harness.expr(lambda: vector[1] - 2.0)],
    )
    with pytest.warns(RuntimeWarning, match="L-BFGS-B cannot handle constraints"):
        harness.minimize(optimizer)  # as in TF 1, constraints reach SciPy whatever the method
    assert seen["x0"].dtype == np.float64
    np.testing.assert_array_equal(seen["x0"], [3.0, -1.0])
    value, gradient = seen["value"]
    assert isinstance(value, np.float64) and value == 10.0  # 9 + 1
    assert gradient.dtype == np.float64
    np.testing.assert_array_equal(gradient, [6.0, -2.0])  # 2 * vector
    kwargs = seen["kwargs"]
    assert kwargs["method"] == "L-BFGS-B" and kwargs["jac"] is True
    assert kwargs["bounds"] is None and callable(kwargs["callback"])
    (eq_type, eq_value, eq_jac), (ineq_type, ineq_value, ineq_jac) = seen["constraints"]
    assert (eq_type, ineq_type) == ("eq", "ineq")  # equalities first, as TF 1
    assert eq_value.dtype == eq_jac.dtype == ineq_value.dtype == np.float64
    np.testing.assert_array_equal(eq_value, [-3.0])  # -1 - 2
    np.testing.assert_array_equal(eq_jac, [[0.0, 1.0]])
    np.testing.assert_array_equal(ineq_value, [2.0])  # 3 - 1
    np.testing.assert_array_equal(ineq_jac, [[1.0, 0.0]])


def test_gradient_free_methods_get_a_value_only_objective(monkeypatch):
    vector = tf.Variable([3.0, -1.0], dtype=tf.float64, name="vector")
    seen = {}
    real_minimize = scipy.optimize.minimize

    def spy(fun, x0, **kwargs):
        seen.update(jac=kwargs["jac"], value=fun(x0))
        return real_minimize(fun, x0, **kwargs)

    monkeypatch.setattr(scipy.optimize, "minimize", spy)
    evaluations = []
    optimizer = ScipyOptimizerInterface(lambda: tf.reduce_sum(tf.square(vector)), method="Powell")
    result = optimizer.minimize(loss_callback=lambda: evaluations.append(1))
    assert seen["jac"] is None
    assert seen["value"] == 10.0 and isinstance(seen["value"], np.float64)
    assert len(evaluations) == result.nfev + 1  # the spy's own call is one more
    np.testing.assert_allclose(vector.numpy(), [0.0, 0.0], atol=1e-6)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("jac", True, r"jac=True; it is set automatically .* cannot be injected manually"),
        ("callback", print, r"callback=.*; .* pass minimize\(step_callback=...\) instead"),
        ("constraints", [], r"constraints=\[\]; .* pass equalities=\[...\] and inequalities="),
        ("bounds", [(0, 1)], r"bounds=\[\(0, 1\)\]; Bounds must be set using the var_to_bounds"),
    ],
)
def test_automatic_kwargs_are_rejected_at_minimize_time(harness, name, value, message):
    vector = tf.Variable([3.0, -1.0], name="vector")
    optimizer = ScipyOptimizerInterface(
        harness.expr(lambda: tf.reduce_sum(tf.square(vector))), **{name: value}
    )  # construction accepts them, as TF 1 did
    with pytest.raises(ValueError, match=rf"optimizer_kwargs: got {message}"):
        harness.minimize(optimizer)
    np.testing.assert_array_equal(harness.value(vector), [3.0, -1.0])


def test_optimizer_kwargs_are_never_mutated(harness):
    vector = tf.Variable([-1.2, 1.0], dtype=tf.float64, name="vector")
    options = {"maxiter": 5}
    optimizer = ScipyOptimizerInterface(
        harness.expr(lambda: rosenbrock(vector)), method="L-BFGS-B", options=options, tol=1e-3
    )
    before = copy.deepcopy(optimizer.optimizer_kwargs)
    harness.minimize(optimizer)
    harness.minimize(optimizer)  # b/64065260: 'method' must still be there the second time
    assert optimizer.optimizer_kwargs == before
    assert optimizer.optimizer_kwargs["options"] is options and options == {"maxiter": 5}
    assert optimizer.result.nit == 5  # options reached SciPy


def test_result_is_logged(harness, caplog):
    vector = tf.Variable([7.0, 7.0], dtype=tf.float64, name="vector")
    optimizer = ScipyOptimizerInterface(harness.expr(lambda: tf.reduce_sum(tf.square(vector))))
    with caplog.at_level(logging.INFO, logger="tensorflow"):
        harness.minimize(optimizer)
    [record] = [r for r in caplog.records if "Optimization terminated" in r.getMessage()]
    result = optimizer.result
    assert record.getMessage() == (
        "Optimization terminated with:\n"
        f"  Message: {result.message}\n"
        "  Objective function value: 0.000000\n"
        f"  Number of iterations: {result.nit}\n"
        f"  Number of functions evaluations: {result.nfev}"
    )
    assert result.nit >= 1 and result.nfev >= 2


def rosenbrock_5d(x):
    return tf.reduce_sum(100.0 * tf.square(x[1:] - tf.square(x[:-1])) + tf.square(1.0 - x[:-1]))


def test_nelder_mead_keeps_the_float32_starting_point_as_in_tf1(harness, monkeypatch):
    # TF 1's Nelder-Mead test: 5-D Rosenbrock from zeros, float32, within 2e-4 of the optimum.
    # A float64 start lands at 1.0002073 (SciPy 1.17); TF 1 handed SciPy the float32 vector.
    x = tf.Variable(tf.zeros(5), name="x")
    seen = []
    original = scipy.optimize.minimize

    def spy(fun, x0, **kwargs):
        seen.append((np.asarray(x0).dtype, np.asarray(fun(x0)).dtype))
        return original(fun, x0, **kwargs)

    monkeypatch.setattr(scipy.optimize, "minimize", spy)
    harness.minimize(
        ScipyOptimizerInterface(harness.expr(lambda: rosenbrock_5d(x)), method="Nelder-Mead")
    )
    np.testing.assert_allclose(harness.value(x), np.ones(5), rtol=1e-4, atol=1e-4)
    assert np.abs(harness.value(x) - 1.0).max() < 1e-4  # 7.5e-05 here; float64 gave 2.07e-4
    assert seen == [(np.float32, np.float32)]


@pytest.mark.parametrize(
    "method, dtype, tol",
    [
        ("Powell", np.float32, 1e-8),  # gradient-free: the variables' dtype, as in TF 1
        ("COBYLA", np.float32, 1e-8),
        ("L-BFGS-B", np.float64, None),  # gradient methods keep float64
        ("TNC", np.float64, None),
        ("SLSQP", np.float64, None),
    ],
)
def test_starting_point_dtype_by_method(harness, monkeypatch, method, dtype, tol):
    x = tf.Variable([0.0, 0.0], name="x")
    seen = []
    original = scipy.optimize.minimize

    def spy(fun, x0, **kwargs):
        seen.append(np.asarray(x0).dtype)
        return original(fun, x0, **kwargs)

    monkeypatch.setattr(scipy.optimize, "minimize", spy)
    loss = harness.expr(lambda: tf.reduce_sum(tf.square(x - [1.0, 2.0])))
    options = {} if tol is None else {"tol": tol}
    harness.minimize(ScipyOptimizerInterface(loss, method=method, **options))
    np.testing.assert_allclose(harness.value(x), [1.0, 2.0], atol=1e-3 if tol else 1e-4)
    assert seen == [dtype]


def test_tnc_maxiter_becomes_maxfun_with_a_warning(harness):
    # SciPy 1.17's TNC ignores maxiter (it ran all 100 evaluations here): TF 1's limit holds.
    x = tf.Variable(tf.zeros(5, tf.float64), name="x")
    options = {"maxiter": 5}
    optimizer = ScipyOptimizerInterface(
        harness.expr(lambda: rosenbrock_5d(x)), method="TNC", options=options
    )
    with pytest.warns(UserWarning, match=r"TNC has no 'maxiter'.*passed as options\['maxfun'\]"):
        harness.minimize(optimizer)
    assert optimizer.result.nfev <= 6
    assert "Max. number of function evaluations reached" in optimizer.result.message
    assert options == {"maxiter": 5}  # the caller's dict is left alone


def test_tnc_with_maxfun_and_maxiter_keeps_maxfun(harness):
    x = tf.Variable(tf.zeros(5, tf.float64), name="x")
    optimizer = ScipyOptimizerInterface(
        harness.expr(lambda: rosenbrock_5d(x)),
        method="tnc",
        options={"maxiter": 1000, "maxfun": 8},
    )
    with pytest.warns(UserWarning, match=r"options\['maxfun'\]=8 is given too and is kept"):
        harness.minimize(optimizer)
    assert optimizer.result.nfev <= 9


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": 42}, r"method: got 42 \(int\); accepted: a callable minimizer or one of"),
        ({"method": "LBFGS"}, r"method: got 'LBFGS' \(str\); accepted: .*'L-BFGS-B'"),
        ({"method": None}, r"method: got None \(NoneType\)"),
        ({"options": "fast"}, r"options: got 'fast' \(str\); accepted: None or a dict"),
        ({"options": {1: 2}}, r"options: got the key 1 \(int\)"),
        ({"tol": "small"}, r"tol: got 'small' \(str\); accepted: None or a non-negative"),
        ({"tol": float("nan")}, r"tol: got nan \(float\)"),
        ({"tol": -1.0}, r"tol: got -1.0 \(float\)"),
    ],
)
def test_method_options_and_tol_are_checked_when_built(harness, kwargs, message):
    vector = tf.Variable([7.0, 7.0], name="vector")
    with pytest.raises(ValueError, match=message):
        ScipyOptimizerInterface(harness.expr(lambda: tf.reduce_sum(vector**2)), **kwargs)


def test_method_names_are_case_insensitive_as_in_scipy(harness):
    vector = tf.Variable([7.0, 7.0], name="vector")
    optimizer = ScipyOptimizerInterface(
        harness.expr(lambda: tf.reduce_sum(vector**2)), method="l-bfgs-b"
    )
    harness.minimize(optimizer)
    np.testing.assert_allclose(harness.value(vector), [0.0, 0.0], atol=1e-5)


def test_the_method_list_is_scipys():
    from olexplore.opt.scipy_optimizer import SCIPY_METHODS

    # scipy.optimize.show_options lists every method of minimize (public API).
    text = scipy.optimize.show_options("minimize", disp=False)
    for method in SCIPY_METHODS:
        assert f"{method.lower()}\n" in text.lower()
