"""ExternalOptimizerInterface (contrib-spec §2.1) in graph mode and TF 2 mode.

Every expected number below is worked out by hand in a comment next to it.
"""

from __future__ import annotations

import contextlib

import keras
import numpy as np
import pytest

from olexplore._tensorflow import tf
from olexplore.opt.external_optimizer import ExternalOptimizerInterface, VariablePacking

MODES = ["graph", "tf2"]


class Harness:
    """Writes one test for both modes: TF 1 tensors and sessions, or TF 2 callables."""

    def __init__(self, mode):
        self.mode = mode
        self._session = None

    @property
    def graph_mode(self):
        return self.mode == "graph"

    def expr(self, function):
        """A loss, constraint or fetch: the tensor in graph mode, the callable in TF 2 mode."""
        return function() if self.graph_mode else function

    @property
    def session(self):
        """The graph's session; variables created since the last use get initialised."""
        if self._session is None:
            self._session, self._initialized = tf.compat.v1.Session(), set()
        new = [v for v in tf.compat.v1.global_variables() if v.name not in self._initialized]
        self._session.run(tf.compat.v1.variables_initializer(new))
        self._initialized.update(v.name for v in new)
        return self._session

    def minimize(self, optimizer, **kwargs):
        if self.graph_mode:
            return optimizer.minimize(self.session, **kwargs)
        return optimizer.minimize(**kwargs)

    def value(self, variable):
        return self.session.run(variable) if self.graph_mode else variable.numpy()

    @classmethod
    @contextlib.contextmanager
    def start(cls, mode):
        harness = cls(mode)
        if not harness.graph_mode:
            yield harness
            return
        with tf.Graph().as_default():
            try:
                yield harness
            finally:
                if harness._session is not None:
                    harness._session.close()


@pytest.fixture(params=MODES)
def harness(request):
    with Harness.start(request.param) as harness:
        yield harness


class MockOptimizerInterface(ExternalOptimizerInterface):
    """TF 1's test double: minimizes (x - x0)**2 / 2 in one exact step x0 = x - grad."""

    NUM_STEP_CALLS = 5
    NUM_LOSS_CALLS = 2

    def _minimize(self, initial_val, loss_grad_func, step_callback, optimizer_kwargs, **unused):
        for _ in range(self.NUM_LOSS_CALLS):
            loss_grad_func(initial_val)
        for _ in range(self.NUM_STEP_CALLS):
            step_callback(initial_val)
        _, grad = loss_grad_func(initial_val)
        return initial_val - grad


class RecordingInterface(ExternalOptimizerInterface):
    """Keeps every argument of ``_minimize`` and runs ``script(**arguments)``."""

    def __init__(self, *args, script=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.script = script

    def _minimize(self, **arguments):
        self.arguments = arguments
        if self.script is not None:
            return self.script(**arguments)
        return arguments["initial_val"]


def test_packs_scalar_vector_and_matrix_variables(harness):
    scalar = tf.Variable(10.0, name="scalar")
    vector = tf.Variable([-3.0, 4.0], name="vector")
    matrix = tf.Variable(np.ones((2, 3), np.float32), name="matrix")
    minimum = tf.constant(np.arange(9), dtype=tf.float32)

    def loss():
        value = tf.reduce_sum(tf.square(vector - minimum[:2])) / 2.0
        value += tf.reduce_sum(tf.square(scalar - minimum[2])) / 2.0
        return value + tf.reduce_sum(tf.square(matrix - tf.reshape(minimum[3:], [2, 3]))) / 2.0

    optimizer = MockOptimizerInterface(harness.expr(loss))
    harness.minimize(optimizer)
    # x - grad = x - (x - minimum) = minimum:
    # vector [0, 1], scalar 2, matrix [[3, 4, 5], [6, 7, 8]].
    np.testing.assert_array_equal(harness.value(vector), [0.0, 1.0])
    assert harness.value(scalar) == 2.0
    np.testing.assert_array_equal(harness.value(matrix), [[3, 4, 5], [6, 7, 8]])


def test_packing_order_and_exact_evaluation_at_candidates(harness):
    matrix = tf.Variable([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], name="matrix")
    scalar = tf.Variable(0.5, name="scalar")
    vector = tf.Variable([-1.0, 2.0], name="vector")

    def loss():  # a sparse read (gather) too: it must see the candidate like the dense reads
        sparse = tf.gather(vector, [1])[0]
        return 0.5 * tf.reduce_sum(matrix**2) + 3.0 * scalar**2 + vector[0] * sparse

    candidate = np.array([0.5, -1.0, 0.0, 2.0, 1.0, -2.0, 1.5, 3.0, -0.5], np.float32)
    seen = []

    def script(initial_val, loss_grad_func, **unused):
        seen.append(loss_grad_func(candidate))
        seen.append(loss_grad_func(initial_val))
        return initial_val

    optimizer = RecordingInterface(
        harness.expr(loss), var_list=[matrix, scalar, vector], script=script
    )
    harness.minimize(optimizer)
    initial_val = optimizer.arguments["initial_val"]
    # var_list order, C order: matrix rows, then the scalar, then the vector.
    np.testing.assert_array_equal(initial_val, [1, 2, 3, 4, 5, 6, 0.5, -1, 2])
    assert initial_val.dtype == np.float32
    (loss_at_candidate, grad_at_candidate), (loss_at_start, grad_at_start) = seen
    # 0.5 * (0.25 + 1 + 0 + 4 + 1 + 4) + 3 * 1.5**2 + 3 * -0.5 = 5.125 + 6.75 - 1.5
    assert loss_at_candidate == pytest.approx(10.375)
    # d/dmatrix = matrix; d/dscalar = 6 * 1.5; d/dvector = (vector[1], vector[0])
    np.testing.assert_allclose(grad_at_candidate, [0.5, -1, 0, 2, 1, -2, 9, -0.5, 3])
    # 0.5 * 91 + 3 * 0.25 + (-1) * 2 = 45.5 + 0.75 - 2
    assert loss_at_start == pytest.approx(44.25)
    np.testing.assert_allclose(grad_at_start, [1, 2, 3, 4, 5, 6, 3, 2, -1])
    assert grad_at_start.dtype == np.float32


def test_unused_variable_gets_a_zero_gradient(harness):
    used = tf.Variable([1.0, -2.0], name="used")
    unused = tf.Variable(3.0, name="unused")
    optimizer = RecordingInterface(
        harness.expr(lambda: tf.reduce_sum(used**2)),
        var_list=[used, unused],
        script=lambda initial_val, loss_grad_func, **_: loss_grad_func(initial_val)[1],
    )
    harness.minimize(optimizer)
    # The script returns the gradient (2 * used, 0): it becomes the variables' value.
    np.testing.assert_array_equal(harness.value(used), [2.0, -4.0])
    assert harness.value(unused) == 0.0


def test_graph_default_var_list_is_every_trainable_variable_in_creation_order():
    with tf.Graph().as_default():
        first = tf.Variable(1.0, name="first")
        tf.Variable(2.0, name="frozen", trainable=False)
        second = tf.Variable([3.0, 4.0], name="second")
        optimizer = RecordingInterface(second[0] * first)
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            optimizer.minimize(session)
    np.testing.assert_array_equal(optimizer.arguments["initial_val"], [1.0, 3.0, 4.0])


def test_tf2_default_var_list_is_the_trainable_variables_the_loss_reads():
    first = tf.Variable(1.0, name="first")
    frozen = tf.Variable(2.0, name="frozen", trainable=False)
    tf.Variable(5.0, name="untouched")
    second = tf.Variable([3.0, 4.0], name="second")
    optimizer = RecordingInterface(lambda: second[0] * first * frozen)
    optimizer.minimize()
    # frozen and untouched are left out. The order is the tape's, which is creation order
    # (first, then second) whatever the order of use.
    np.testing.assert_array_equal(optimizer.arguments["initial_val"], [1.0, 3.0, 4.0])


def test_callbacks_and_fetches(harness):
    vector = tf.Variable([7.0, -2.0], name="vector")

    def loss():
        return tf.reduce_sum(tf.square(vector - tf.constant([0.0, 1.0]))) / 2.0

    loss_calls, step_calls = [], []
    loss_tensor = harness.expr(loss)
    optimizer = MockOptimizerInterface(loss_tensor)
    fetches = [loss_tensor, vector] if harness.graph_mode else [loss, lambda: vector]
    harness.minimize(
        optimizer,
        fetches=fetches,
        loss_callback=lambda *values: loss_calls.append(values),
        step_callback=lambda xk: step_calls.append(xk.copy()),
    )
    # Three loss evaluations at (7, -2): (7**2 + 3**2) / 2 = 29, each fetching (loss, vector).
    assert len(loss_calls) == MockOptimizerInterface.NUM_LOSS_CALLS + 1
    for fetched_loss, fetched_vector in loss_calls:
        assert fetched_loss == 29.0
        np.testing.assert_array_equal(fetched_vector, [7.0, -2.0])
    assert len(step_calls) == MockOptimizerInterface.NUM_STEP_CALLS
    np.testing.assert_array_equal(step_calls[-1], [7.0, -2.0])


def test_constraint_functions_return_lists_of_values_and_packed_gradients(harness):
    vector = tf.Variable([1.0, 2.0], name="vector")
    loss_calls = []
    results = {}

    def script(equality_funcs, equality_grad_funcs, inequality_funcs, inequality_grad_funcs,
               initial_val, **unused):  # fmt: skip
        x = np.array([3.0, 1.0], np.float32)
        results["eq"] = [equality_funcs[0](x), equality_grad_funcs[0](x)]
        results["ineq"] = [inequality_funcs[0](x), inequality_grad_funcs[0](x)]
        return initial_val

    optimizer = RecordingInterface(
        harness.expr(lambda: tf.reduce_sum(vector)),
        equalities=[harness.expr(lambda: vector[0] + 2.0 * vector[1] - 1.0)],
        inequalities=[harness.expr(lambda: vector[0] * vector[1])],
        script=script,
    )
    harness.minimize(optimizer, loss_callback=lambda *fetched: loss_calls.append(fetched))
    (eq_value,), (eq_grad,) = results["eq"]
    assert eq_value == 4.0  # 3 + 2 * 1 - 1
    np.testing.assert_array_equal(eq_grad, [1.0, 2.0])
    (ineq_value,), (ineq_grad,) = results["ineq"]
    assert ineq_value == 3.0  # 3 * 1
    np.testing.assert_array_equal(ineq_grad, [1.0, 3.0])  # (x1, x0)
    assert loss_calls == []  # loss_callback is for loss evaluations only
    np.testing.assert_array_equal(harness.value(vector), [1.0, 2.0])


def test_result_is_assigned_not_the_last_point_evaluated(harness):
    vector = tf.Variable([1.0, 2.0], name="vector")
    other = tf.Variable(5.0, name="other")

    def script(loss_grad_func, **unused):
        loss_grad_func(np.array([100.0, 200.0]))
        return np.array([-1.0, 0.25])

    optimizer = RecordingInterface(
        harness.expr(lambda: tf.reduce_sum(vector) * other), var_list=[vector], script=script
    )
    returned = harness.minimize(optimizer)
    np.testing.assert_array_equal(harness.value(vector), [-1.0, 0.25])
    assert harness.value(other) == 5.0
    if harness.graph_mode:
        assert returned is None
    else:
        np.testing.assert_array_equal(returned, [-1.0, 0.25])


def test_variables_are_restored_when_minimize_fails(harness):
    vector = tf.Variable([1.0, 2.0], name="vector")

    def script(loss_grad_func, **unused):
        loss_grad_func(np.array([9.0, 9.0]))
        raise RuntimeError("algorithm failed")

    optimizer = RecordingInterface(harness.expr(lambda: tf.reduce_sum(vector)), script=script)
    with pytest.raises(RuntimeError, match="algorithm failed"):
        harness.minimize(optimizer)
    np.testing.assert_array_equal(harness.value(vector), [1.0, 2.0])


def test_base_class_minimize_is_not_implemented(harness):
    vector = tf.Variable([1.0, 2.0], name="vector")
    optimizer = ExternalOptimizerInterface(harness.expr(lambda: tf.reduce_sum(vector)))
    with pytest.raises(NotImplementedError, match=r"subclass from it and implement the _minimi"):
        harness.minimize(optimizer)
    np.testing.assert_array_equal(harness.value(vector), [1.0, 2.0])


def test_optimizer_kwargs_are_public_and_reach_minimize(harness):
    vector = tf.Variable([1.0, 2.0], name="vector")
    optimizer = RecordingInterface(
        harness.expr(lambda: tf.reduce_sum(vector)), method="X", options={"maxiter": 3}
    )
    assert optimizer.optimizer_kwargs == {"method": "X", "options": {"maxiter": 3}}
    harness.minimize(optimizer)
    assert optimizer.arguments["optimizer_kwargs"] is optimizer.optimizer_kwargs
    assert optimizer.arguments["packed_bounds"] is None  # no var_to_bounds
    for name in ("equality_funcs", "equality_grad_funcs", "inequality_funcs"):
        assert optimizer.arguments[name] == []  # no constraints: empty lists


def test_constraint_evaluations_run_the_fetches_too(harness):
    vector = tf.Variable([1.0, 2.0], name="vector")
    counter = tf.Variable(0, name="counter", trainable=False)
    loss_calls = []

    def script(loss_grad_func, equality_funcs, equality_grad_funcs, initial_val, **unused):
        loss_grad_func(initial_val)
        equality_funcs[0](initial_val)
        equality_grad_funcs[0](initial_val)
        return initial_val

    optimizer = RecordingInterface(
        harness.expr(lambda: tf.reduce_sum(vector)),
        var_list=(vector,),  # any sequence, as TF 1's list(var_list)
        equalities=[harness.expr(lambda: vector[0] - 1.0)],
        script=script,
    )
    bump = harness.expr(lambda: counter.assign_add(1))
    harness.minimize(optimizer, fetches=[bump], loss_callback=loss_calls.append)
    # Three evaluations (loss, equality, equality gradient) each ran the fetch; only the loss
    # evaluation called loss_callback, with the fetched value (the counter after one bump).
    assert harness.value(counter) == 3
    assert loss_calls == [1]


def test_bounds_are_broadcast_per_variable_and_packed(harness):
    scalar = tf.Variable(0.5, name="s")
    vector = tf.Variable([0.0, 0.0, 0.0], name="w")
    matrix = tf.Variable(np.zeros((2, 3), np.float32), name="m")
    free = tf.Variable([0.0, 0.0], name="u")
    scalar_bounds, vector_bounds, matrix_bounds = (
        (0, 1),
        ([-1, None, -3], 5),
        ([0, 1, 2], [[10], [20]]),
    )
    if harness.graph_mode:  # TF 1 usage: graph-mode variables are hashable
        bounds = {scalar: scalar_bounds, vector: vector_bounds, matrix: matrix_bounds}
    else:  # TF 2 variables are unhashable: ref() or name (with or without ':0') keys
        bounds = {scalar.ref(): scalar_bounds, "w:0": vector_bounds, "m": matrix_bounds}
    optimizer = RecordingInterface(
        harness.expr(lambda: scalar + tf.reduce_sum(vector) + tf.reduce_sum(matrix)),
        var_list=[scalar, vector, matrix, free],
        var_to_bounds=bounds,
    )
    harness.minimize(optimizer)
    inf = np.inf
    assert optimizer.arguments["packed_bounds"] == [
        (0.0, 1.0),  # scalar
        (-1.0, 5.0), (None, 5.0), (-3.0, 5.0),  # vector: lows element-wise, high broadcast
        (0.0, 10.0), (1.0, 10.0), (2.0, 10.0),  # matrix row 0: lows per column, high per row
        (0.0, 20.0), (1.0, 20.0), (2.0, 20.0),  # matrix row 1
        (-inf, inf), (-inf, inf),  # free: no entry
    ]  # fmt: skip


def test_bounds_errors_name_the_argument():
    vector = tf.Variable([0.0, 0.0], name="vector")

    def build(var_to_bounds):
        return RecordingInterface(lambda: tf.reduce_sum(vector), var_to_bounds=var_to_bounds)

    with pytest.raises(ValueError, match=r"var_to_bounds: key 'nope' matches no variable"):
        build({"nope": (0, 1)})
    with pytest.raises(ValueError, match=r"var_to_bounds\['vector'\]: expected a \(low, high\)"):
        build({"vector": (0, 1, 2)})
    with pytest.raises(ValueError, match=r"broadcastable to the variable's shape \(2,\)"):
        build({"vector": ([0, 1, 2], 5)})
    with pytest.raises(TypeError, match=r"var_to_bounds: expected a dict"):
        build([(0, 1)])


def test_mixed_dtypes_pack_into_the_wider_dtype(harness):
    narrow = tf.Variable([1.0, 2.0], dtype=tf.float32, name="narrow")
    wide = tf.Variable(3.0, dtype=tf.float64, name="wide")

    def loss():
        return tf.reduce_sum(tf.square(tf.cast(narrow, tf.float64) - 0.5)) / 2.0 + wide**2 / 2.0

    optimizer = MockOptimizerInterface(harness.expr(loss), var_list=[narrow, wide])
    harness.minimize(optimizer)
    # x - grad: narrow -> 0.5, wide -> 3 - 3 = 0
    np.testing.assert_array_equal(harness.value(narrow), [0.5, 0.5])
    assert harness.value(wide) == 0.0
    assert harness.value(narrow).dtype == np.float32


def test_graph_mode_feed_dict_and_default_session():
    with tf.Graph().as_default():
        target = tf.compat.v1.placeholder(tf.float32, [2])
        vector = tf.Variable([1.0, 2.0], name="vector")
        loss = tf.reduce_sum(tf.square(vector - target)) / 2.0
        optimizer = MockOptimizerInterface(loss)
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            with session.as_default():
                optimizer.minimize(feed_dict={target: [3.0, -4.0]})
            # x - grad = x - (x - target) = target
            np.testing.assert_array_equal(session.run(vector), [3.0, -4.0])


def test_graph_mode_run_kwargs_reach_only_the_final_run():
    with tf.Graph().as_default():
        vector = tf.Variable([1.0, 2.0], name="vector")
        optimizer = MockOptimizerInterface(tf.reduce_sum(tf.square(vector - 5.0)) / 2.0)
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            recording = _RecordingSession(session)
            options = tf.compat.v1.RunOptions(trace_level=tf.compat.v1.RunOptions.FULL_TRACE)
            metadata = tf.compat.v1.RunMetadata()
            optimizer.minimize(recording, options=options, run_metadata=metadata)
            np.testing.assert_array_equal(session.run(vector), [5.0, 5.0])
    assert [kwargs != {} for kwargs in recording.calls].count(True) == 1
    assert recording.calls[-1] == {"options": options, "run_metadata": metadata}
    assert len(metadata.step_stats.dev_stats) > 0  # the final run really was traced


class _RecordingSession:
    def __init__(self, session):
        self.session, self.graph, self.calls = session, session.graph, []

    def run(self, fetches, feed_dict=None, **kwargs):
        self.calls.append(kwargs)
        return self.session.run(fetches, feed_dict=feed_dict, **kwargs)


def test_graph_mode_errors():
    with tf.Graph().as_default():
        vector = tf.Variable([1.0, 2.0], name="vector")
        loss = tf.reduce_sum(vector)
        with pytest.raises(ValueError, match="no default session"):
            MockOptimizerInterface(loss).minimize()
        with pytest.raises(ValueError, match=r"loss: expected a scalar tensor, got shape \(2,\)"):
            MockOptimizerInterface(vector * 2.0)
        with pytest.raises(TypeError, match=r"equalities\[0\]: .*scalar tensor of the loss"):
            MockOptimizerInterface(loss, equalities=[lambda: vector[0]])
        with pytest.raises(ValueError, match=r"inequalities\[0\]: expected a scalar"):
            MockOptimizerInterface(loss, inequalities=[vector + 1.0])
        with pytest.raises(ValueError, match="var_list: there are no variables"):
            MockOptimizerInterface(loss, var_list=[])
        with pytest.raises(TypeError, match=r"var_list\[1\]: expected a tf.Variable"):
            MockOptimizerInterface(loss, var_list=[vector, loss])
        shapeless = tf.compat.v1.Variable(
            tf.zeros([2]), shape=tf.TensorShape(None), validate_shape=False, name="shapeless"
        )
        with pytest.raises(ValueError, match="'shapeless' has shape <unknown>"):
            MockOptimizerInterface(loss, var_list=[shapeless])
    with pytest.raises(TypeError, match=r"loss: got .* a callable returning the loss"):
        MockOptimizerInterface(tf.constant(1.0))  # an eager tensor is neither mode


def test_tf2_mode_errors():
    vector = tf.Variable([1.0, 2.0], name="vector")
    optimizer = MockOptimizerInterface(lambda: tf.reduce_sum(vector))
    with pytest.raises(ValueError, match="session: got .* has no session, feeds or run options"):
        optimizer.minimize(object())
    with pytest.raises(ValueError, match="feed_dict: got"):
        optimizer.minimize(feed_dict={"x:0": 1.0})
    with pytest.raises(ValueError, match=r"run_kwargs: got \{'options': None\}"):
        optimizer.minimize(options=None)
    with pytest.raises(TypeError, match=r"fetches\[0\]: got .* fetches are callables"):
        optimizer.minimize(fetches=[vector])
    with pytest.raises(TypeError, match=r"inequalities\[0\]: .* a callable"):
        MockOptimizerInterface(lambda: tf.reduce_sum(vector), inequalities=[vector[0]])
    with pytest.raises(ValueError, match=r"loss: expected a scalar, got shape \(2,\)"):
        MockOptimizerInterface(lambda: vector * 2.0).minimize()
    with pytest.raises(RuntimeError, match="call it eagerly"):
        tf.function(lambda: optimizer.minimize())()
    np.testing.assert_array_equal(vector.numpy(), [1.0, 2.0])


def test_tf2_keras_variables_and_one_trace_per_fetch_list():
    kernel = keras.Variable([1.0, 2.0], name="kernel")
    traces = []

    def loss():
        traces.append(1)  # runs in Python only when traced (or run eagerly)
        return tf.reduce_sum(tf.square(kernel.value - tf.constant([3.0, 4.0]))) / 2.0

    optimizer = MockOptimizerInterface(loss, var_list=[kernel])
    assert traces == []  # an explicit var_list needs no eager run of the loss
    optimizer.minimize()
    np.testing.assert_array_equal(kernel.numpy(), [3.0, 4.0])
    assert len(traces) == 1  # one trace for three evaluations
    optimizer.minimize()
    assert len(traces) == 1  # same (no) fetches: the compiled function is reused
    optimizer.minimize(fetches=[lambda: kernel.value])
    assert len(traces) == 2


def test_variable_packing_split_and_pack_round_trip():
    variables = [tf.Variable(np.arange(6.0).reshape(2, 3)), tf.Variable(7.0), tf.Variable([8.0])]
    packing = VariablePacking(variables)
    assert packing.slices == [slice(0, 6), slice(6, 7), slice(7, 8)]
    flat = packing.pack(variables).numpy()
    np.testing.assert_array_equal(flat, [0, 1, 2, 3, 4, 5, 7, 8])
    parts = packing.split(flat)
    assert [p.shape for p in parts] == [(2, 3), (), (1,)]
    np.testing.assert_array_equal(parts[0], [[0, 1, 2], [3, 4, 5]])
    assert parts[1] == 7.0


@pytest.mark.parametrize(
    ("bounds", "message"),
    [
        (
            (2.0, 1.0),
            r"var_to_bounds\['vector'\]: the lower bound 2.0 of element \(0,\) is above the "
            r"upper bound 1.0; accepted: low <= high",
        ),
        (
            ([0.0, 5.0], [1.0, 4.0]),
            r"var_to_bounds\['vector'\]: the lower bound 5.0 of element \(1,\) is above",
        ),
        ((np.nan, 1.0), r"var_to_bounds\['vector'\]: a bound of element \(0,\) is NaN"),
    ],
)
def test_bounds_out_of_order_are_refused_when_built(harness, bounds, message):
    vector = tf.Variable([1.0, 2.0], name="vector")
    other = tf.Variable(3.0, name="other")
    with pytest.raises(ValueError, match=message):
        RecordingInterface(
            harness.expr(lambda: tf.reduce_sum(vector) + other),
            var_to_bounds={"vector": bounds, "other": (None, 5.0)},
        )


def test_equal_and_open_bounds_are_fine(harness):
    vector = tf.Variable([1.0, 2.0], name="vector")
    optimizer = RecordingInterface(
        harness.expr(lambda: tf.reduce_sum(vector)), var_to_bounds={"vector": (1.0, [1.0, None])}
    )
    harness.minimize(optimizer)
    assert optimizer.arguments["packed_bounds"] == [(1.0, 1.0), (1.0, None)]


@pytest.mark.parametrize("callback", ["step_callback", "loss_callback"])
def test_callbacks_that_are_not_callable_are_refused_before_minimizing(harness, callback):
    vector = tf.Variable([1.0, 2.0], name="vector")
    optimizer = RecordingInterface(harness.expr(lambda: tf.reduce_sum(vector)))
    with pytest.raises(TypeError, match=rf"{callback}: got 'print' of type str; expected None"):
        harness.minimize(optimizer, **{callback: "print"})
    assert not hasattr(optimizer, "arguments")  # _minimize never ran
    np.testing.assert_array_equal(harness.value(vector), [1.0, 2.0])
