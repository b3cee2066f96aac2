"""shendu/tape.py: GradientTape, tf.keras's custom-loop gradient API over the same engine."""
from __future__ import annotations

import numpy as np
import pytest

import shendu as sd
from shendu import ops
from shendu.autograd import Function


def _variables():
    W = sd.tensor(np.array([[0.5, -1.0], [2.0, 0.25], [1.0, 1.0]]), requires_grad=True)
    b = sd.tensor(np.array([0.1, -0.2]), requires_grad=True)
    x = sd.tensor(np.array([[1.0, 2.0, -1.0], [0.5, 0.0, 3.0]]))
    return W, b, x


def _loss(W, b, x):
    return (ops.tanh(x @ W + b) ** 2).sum()


def test_gradient_wrt_variables_matches_backward_and_leaves_grad_alone():
    W, b, x = _variables()
    with sd.GradientTape() as tape:
        loss = _loss(W, b, x)
    gW, gb = tape.gradient(loss, [W, b])
    assert W.grad is None and b.grad is None           # the tape returns gradients, it does not fill .grad
    _loss(W, b, x).backward()
    np.testing.assert_allclose(gW.numpy(), W.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(gb.numpy(), b.grad.numpy(), rtol=1e-12)
    assert not gW.requires_grad


def test_list_in_list_out_tuple_in_tuple_out_tensor_in_tensor_out():
    W, b, x = _variables()
    with sd.GradientTape(persistent=True) as tape:
        loss = _loss(W, b, x)
    assert isinstance(tape.gradient(loss, [W, b]), list)
    assert isinstance(tape.gradient(loss, (W, b)), tuple)
    assert isinstance(tape.gradient(loss, W), sd.Tensor)


def test_watch_a_constant_and_restore_it_after_the_tape():
    x = sd.tensor(np.array([1.0, 2.0, 3.0]))
    with sd.GradientTape() as tape:
        tape.watch(x)
        tape.watch(x)                                     # watching twice is harmless
        y = (x ** 3).sum()
    np.testing.assert_allclose(tape.gradient(y, x).numpy(), 3 * x.numpy() ** 2)
    assert not x.requires_grad                            # watching is for this tape only


def test_watch_rejects_non_tensors_and_int_tensors():
    with sd.GradientTape() as tape:
        with pytest.raises(TypeError, match="shendu.tensor"):
            tape.watch(np.ones(3))
        with pytest.raises(TypeError, match="float"):
            tape.watch(sd.tensor([1, 2]))


def test_persistent_tape_answers_several_calls():
    x = sd.tensor(np.array([2.0]), requires_grad=True)
    with sd.GradientTape(persistent=True) as tape:
        y = x * x
        z = y * y
    np.testing.assert_allclose(tape.gradient(z, x).numpy(), [4 * 8.0])
    np.testing.assert_allclose(tape.gradient(y, x).numpy(), [4.0])
    np.testing.assert_allclose(tape.gradient(z, y).numpy(), [8.0])
    np.testing.assert_allclose(tape.gradient(z, x).numpy(), [32.0])


def test_non_persistent_tape_second_call_raises():
    x = sd.tensor(np.array([2.0]), requires_grad=True)
    with sd.GradientTape() as tape:
        y = (x * x).sum()
    tape.gradient(y, x)
    with pytest.raises(RuntimeError, match="persistent=True"):
        tape.gradient(y, x)


def test_unconnected_source_gives_none():
    x = sd.tensor(np.array([2.0]), requires_grad=True)
    unused = sd.tensor(np.array([5.0]), requires_grad=True)
    with sd.GradientTape() as tape:
        y = (x * 3.0).sum()
    gx, gu = tape.gradient(y, [x, unused])
    assert gu is None
    np.testing.assert_array_equal(gx.numpy(), [3.0])
    with sd.GradientTape() as tape:
        const = sd.tensor(np.array([1.0])) * 2.0        # nothing requires grad: nothing recorded
    assert tape.gradient(const, [x]) == [None]


def test_output_gradients_weight_a_non_scalar_target():
    x = sd.tensor(np.array([1.0, 2.0]), requires_grad=True)
    with sd.GradientTape() as tape:
        y = x * x
    g = tape.gradient(y, x, output_gradients=np.array([10.0, 100.0]))
    np.testing.assert_array_equal(g.numpy(), [20.0, 400.0])


def test_tape_records_even_inside_no_grad():
    x = sd.tensor(np.array([3.0]), requires_grad=True)
    with sd.no_grad():
        with sd.GradientTape() as tape:
            y = x * x
        assert not sd.is_grad_enabled()                  # the tape restores the outer mode
    np.testing.assert_array_equal(tape.gradient(y, x).numpy(), [6.0])


def test_nested_tapes_each_undo_only_their_own_watch():
    x = sd.tensor(np.array([2.0]))
    with sd.GradientTape() as outer:
        outer.watch(x)
        with sd.GradientTape(persistent=True) as inner:   # tapes share one graph: keep it for the outer
            inner.watch(x)
            y = x * x
        assert x.requires_grad                          # still watched by the outer tape
        z = y * x
    assert not x.requires_grad
    np.testing.assert_array_equal(inner.gradient(y, x).numpy(), [4.0])
    np.testing.assert_array_equal(outer.gradient(z, x).numpy(), [12.0])


def test_two_tapes_share_a_graph_like_the_gan_training_loop():
    """TensorFlow's DCGAN tutorial: one forward pass under two tapes, then each tape's gradient."""
    rng = np.random.default_rng(0)
    g_w = sd.tensor(rng.normal(size=(2, 3)), requires_grad=True)
    d_w = sd.tensor(rng.normal(size=(3, 1)), requires_grad=True)
    noise, real = sd.tensor(rng.normal(size=(4, 2))), sd.tensor(rng.normal(size=(4, 3)))
    with sd.GradientTape() as gen_tape, sd.GradientTape() as disc_tape:
        fake = sd.tanh(noise @ g_w)
        fake_out, real_out = fake @ d_w, real @ d_w
        gen_loss = sd.losses.binary_crossentropy(np.ones((4, 1)), fake_out, from_logits=True).mean()
        disc_loss = (sd.losses.binary_crossentropy(np.ones((4, 1)), real_out, from_logits=True).mean()
                     + sd.losses.binary_crossentropy(np.zeros((4, 1)), fake_out, from_logits=True).mean())
    g_grad = gen_tape.gradient(gen_loss, [g_w])[0]
    d_grad = disc_tape.gradient(disc_loss, [d_w])[0]
    assert g_grad.shape == (2, 3) and d_grad.shape == (3, 1)
    # the same numbers as separate backward passes
    gen_loss.backward(retain_graph=True)
    np.testing.assert_allclose(g_grad.numpy(), g_w.grad.numpy())
    d_w.grad = None                      # gen_loss.backward() reached the discriminator's weight too
    disc_loss.backward()
    np.testing.assert_allclose(d_grad.numpy(), d_w.grad.numpy())


def test_gradient_runs_only_the_ops_that_reach_the_sources():
    """The GAN loop: the discriminator's tape must not backpropagate into the generator that made its input,
    and the graph, shared with the generator's tape, still gives that tape its gradients afterwards."""
    calls = []

    class Spy(Function):                       # y = 2 x, recording each backward call
        def forward(self, x):
            return 2 * x

        def backward(self, gy):
            calls.append(list(self.needs))
            return 2 * gy

    rng = np.random.default_rng(0)
    g_w = sd.tensor(rng.standard_normal((3, 3)), requires_grad=True)
    d_w = sd.tensor(rng.standard_normal((3, 1)), requires_grad=True)
    noise = sd.tensor(rng.standard_normal((4, 3)))
    fake = Spy.apply(noise @ g_w)                              # the generator, outside both tapes
    with sd.GradientTape(persistent=True) as tape:
        score = Spy.apply(fake @ d_w).sum()
    (gd,) = tape.gradient(score, [d_w])
    assert calls == [[True]]                                   # the discriminator's Spy ran, the generator's not
    np.testing.assert_allclose(gd.numpy(), 2 * fake.numpy().sum(0)[:, None])
    (gg,) = tape.gradient(score, [g_w])                        # the same graph, now to the generator
    assert calls[1:] == [[True], [True]]
    np.testing.assert_allclose(gg.numpy(), 4 * noise.numpy().T @ np.ones((4, 1)) @ d_w.numpy().T)
