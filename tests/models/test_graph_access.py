"""Model graph access: model.input/output/inputs/outputs, layer.input/output and their shapes, get_layer, and
new functional models built from a trained model's tensors (keras-io's lstm_seq2seq inference models),
also after load_model. Keras 3 (torch backend) is the oracle for shapes and values."""
from __future__ import annotations

import numpy as np
import pytest

import shendu
from shendu import keras


def mlp(lib):
    inp = lib.Input(shape=(5,), name="features")
    h = lib.layers.Dense(4, activation="relu", name="hidden")(inp)
    out = lib.layers.Dense(2, name="head")(h)
    return lib.Model(inp, out)


def test_layer_inputs_outputs_and_shapes_like_keras(keras):
    for lib in (shendu.keras, keras):
        model = mlp(lib)
        hidden = model.get_layer("hidden")
        assert hidden.input is model.input and model.output is model.layers[-1].output
        assert hidden.output is model.get_layer("head").input
        assert tuple(hidden.input.shape) == (None, 5) and tuple(hidden.output.shape) == (None, 4)
        assert tuple(model.get_layer("head").output.shape) == (None, 2)
        assert [tuple(t.shape) for t in model.inputs] == [(None, 5)]
        assert [tuple(t.shape) for t in model.outputs] == [(None, 2)]
    ours = mlp(shendu.keras)
    assert ours.get_layer("hidden").input_shape == (None, 5) and ours.get_layer("hidden").output_shape == (None, 4)
    assert ours.layers[0].input is ours.layers[0].output is ours.input and ours.layers[0].input_shape == (None, 5)


def test_a_model_from_intermediate_tensors_matches_keras(keras):
    x = np.random.default_rng(0).normal(size=(3, 5)).astype("float32")
    ours, theirs = mlp(shendu.keras), mlp(keras)
    theirs.set_weights(ours.get_weights())
    features = [lib.Model(m.input, m.get_layer("hidden").output).predict(x, verbose=0)
                for lib, m in ((shendu.keras, ours), (keras, theirs))]
    np.testing.assert_allclose(features[0], features[1], rtol=1e-5, atol=1e-6)


def test_sequential_layers_have_outputs_for_feature_extraction(keras):
    """keras-io guides/sequential_model.py's feature extractor:
    Model(inputs=model.inputs, outputs=[layer.output for layer in model.layers])."""
    x = np.random.default_rng(1).normal(size=(2, 6)).astype("float32")
    results, weights = [], None
    for lib in (shendu.keras, keras):
        model = lib.Sequential([lib.Input(shape=(6,)), lib.layers.Dense(4, activation="relu"),
                                lib.layers.Dense(3), lib.layers.Dense(1)])
        if weights is not None:
            model.set_weights(weights)
        weights = model.get_weights()
        extractor = lib.Model(inputs=model.inputs, outputs=[layer.output for layer in model.layers])
        results.append(extractor.predict(x, verbose=0))
    assert [r.shape for r in results[0]] == [(2, 4), (2, 3), (2, 1)]
    for ours, theirs in zip(*results):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def test_sequential_graph_follows_add_and_pop():
    model = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(4)])
    dense = keras.layers.Dense(2)
    model.add(dense)
    assert model.output is dense.output and model.output.shape == (None, 2)
    assert len(model.layers[0]._inbound_nodes) == 1          # rebuilding replaced the earlier graph
    model.pop()
    assert model.output is model.layers[0].output and dense._inbound_nodes == []


def test_a_layer_called_twice_asks_for_a_node_index():
    shared = keras.layers.Dense(2, name="shared")
    a, b = keras.Input(shape=(3,)), keras.Input(shape=(3,))
    out_a, out_b = shared(a), shared(b)
    with pytest.raises(AttributeError, match=r"multiple inbound nodes.*get_output_at\(node_index\)"):
        shared.output
    with pytest.raises(AttributeError, match="get_input_shape_at"):
        shared.input_shape
    assert shared.get_output_at(1) is out_b and shared.get_input_at(0) is a
    assert shared.get_output_shape_at(0) == (None, 2)


def test_a_layer_never_called_symbolically_has_no_output():
    with pytest.raises(ValueError, match="never been called on a symbolic input"):
        keras.layers.Dense(2).output
    with pytest.raises(ValueError, match="no defined output"):
        keras.Sequential([keras.layers.Dense(2)]).output


def test_multi_input_model_input_is_the_list_given():
    a, b = keras.Input(shape=(2,)), keras.Input(shape=(3,))
    model = keras.Model([a, b], keras.layers.Concatenate()([a, b]))
    assert model.input == [a, b] and model.inputs == [a, b] and model.input_shape == [(None, 2), (None, 3)]


def test_get_layer_by_name_or_index_and_its_errors():
    model = mlp(keras)
    assert model.get_layer(index=1).name == "hidden" and model.get_layer(index=-1).name == "head"
    with pytest.raises(ValueError, match="not both"):
        model.get_layer("hidden", 1)
    with pytest.raises(ValueError, match="index 7"):
        model.get_layer(index=7)
    with pytest.raises(ValueError, match="No layer named 'nope'"):
        model.get_layer("nope")
    with pytest.raises(ValueError, match="provide a layer name"):
        model.get_layer()


# ------------------------------------------------------------------------------ keras-io: examples/nlp/lstm_seq2seq.py
LATENT, N_ENC, N_DEC = 6, 5, 4


def seq2seq(lib):
    encoder_inputs = lib.Input(shape=(None, N_ENC))
    encoder = lib.layers.LSTM(LATENT, return_state=True)
    encoder_outputs, state_h, state_c = encoder(encoder_inputs)
    decoder_inputs = lib.Input(shape=(None, N_DEC))
    decoder_lstm = lib.layers.LSTM(LATENT, return_sequences=True, return_state=True)
    decoder_outputs, _, _ = decoder_lstm(decoder_inputs, initial_state=[state_h, state_c])
    decoder_outputs = lib.layers.Dense(N_DEC, activation="softmax")(decoder_outputs)
    return lib.Model([encoder_inputs, decoder_inputs], decoder_outputs)


def inference_models(lib, model):
    """The example's rebuild: encoder and decoder models from the trained model's tensors and layers."""
    encoder_inputs = model.input[0]
    encoder_outputs, state_h_enc, state_c_enc = model.layers[2].output
    encoder_model = lib.Model(encoder_inputs, [state_h_enc, state_c_enc])
    decoder_inputs = model.input[1]
    decoder_states_inputs = [lib.Input(shape=(LATENT,)), lib.Input(shape=(LATENT,))]
    decoder_lstm = model.layers[3]
    decoder_outputs, state_h_dec, state_c_dec = decoder_lstm(decoder_inputs, initial_state=decoder_states_inputs)
    decoder_outputs = model.layers[4](decoder_outputs)
    decoder_model = lib.Model([decoder_inputs] + decoder_states_inputs,
                              [decoder_outputs, state_h_dec, state_c_dec])
    return encoder_model, decoder_model


def decode(encoder_model, decoder_model, x_enc, steps=3):
    """Greedy decoding, one step at a time, as the example's decode_sequence does."""
    states = encoder_model.predict(x_enc, verbose=0)
    target = np.zeros((len(x_enc), 1, N_DEC), "float32")
    target[:, 0, 0] = 1.0
    tokens = []
    for _ in range(steps):
        probs, h, c = decoder_model.predict([target] + list(states), verbose=0)
        token = probs[:, -1].argmax(-1)
        tokens.append(probs[:, -1])
        target = np.zeros_like(target)
        target[np.arange(len(x_enc)), 0, token] = 1.0
        states = [h, c]
    return np.stack(tokens, 1)


def test_seq2seq_inference_models_rebuilt_from_the_trained_model_match_keras(keras, tmp_path):
    rng = np.random.default_rng(5)
    x_enc = rng.random((8, 7, N_ENC)).astype("float32")
    x_dec = rng.random((8, 3, N_DEC)).astype("float32")
    y = np.eye(N_DEC, dtype="float32")[rng.integers(0, N_DEC, (8, 3))]
    ours = seq2seq(shendu.keras)
    ours.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    ours.fit([x_enc, x_dec], y, batch_size=4, epochs=1, verbose=0)
    theirs = seq2seq(keras)
    theirs.set_weights(ours.get_weights())

    decoded = decode(*inference_models(shendu.keras, ours), x_enc[:3])
    np.testing.assert_allclose(decoded, decode(*inference_models(keras, theirs), x_enc[:3]), rtol=1e-4, atol=1e-5)
    # the decoder model run on the whole target sequence reproduces the trained model's output
    encoder_model, decoder_model = inference_models(shendu.keras, ours)
    states = encoder_model.predict(x_enc[:3], verbose=0)
    np.testing.assert_allclose(decoder_model.predict([x_dec[:3]] + states, verbose=0)[0],
                               ours.predict([x_enc[:3], x_dec[:3]], verbose=0), rtol=1e-5, atol=1e-6)

    path = str(tmp_path / "s2s.keras")
    ours.save(path)
    reloaded = shendu.keras.models.load_model(path)
    np.testing.assert_allclose(decode(*inference_models(shendu.keras, reloaded), x_enc[:3]), decoded,
                               rtol=1e-5, atol=1e-6)


def test_grad_cam_model_from_an_inner_layer_output_matches_keras(keras):
    """keras-io examples/vision/grad_cam.py: a model returning (last conv output, predictions), and the
    gradient of one class score with respect to that conv output."""
    import torch
    img = np.random.default_rng(12).random((1, 8, 8, 3)).astype("float32")
    grads, weights = [], None
    for lib in (shendu.keras, keras):
        inp = lib.Input(shape=(8, 8, 3))
        x = lib.layers.Conv2D(4, 3, activation="relu", name="last_conv")(inp)
        out = lib.layers.Dense(3, activation="softmax")(lib.layers.GlobalAveragePooling2D()(x))
        model = lib.Model(inp, out)
        if weights is not None:
            model.set_weights(weights)
        weights = model.get_weights()
        grad_model = lib.Model(model.inputs, [model.get_layer("last_conv").output, model.output])
        if lib is shendu.keras:
            with shendu.GradientTape() as tape:
                conv_output, preds = grad_model(img)
                class_channel = preds[:, 1]
            grads.append(tape.gradient(class_channel, conv_output).numpy())
        else:
            conv_output, preds = grad_model(torch.tensor(img))
            conv_output.retain_grad()
            preds[:, 1].sum().backward()
            grads.append(conv_output.grad.numpy())
    assert grads[0].shape == (1, 6, 6, 4)
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-4, atol=1e-7)


def test_a_layer_output_can_be_a_new_models_input_like_keras(keras, tmp_path):
    """Keras 3 accepts an intermediate tensor as a model input (it gets an InputLayer of its own)."""
    x = np.random.default_rng(13).normal(size=(3, 4)).astype("float32")
    results = []
    for lib in (shendu.keras, keras):
        model = mlp(lib)
        if results:
            model.set_weights(results[0][0].get_weights())
        head = lib.Model(model.get_layer("hidden").output, model.output)
        assert [type(l).__name__ for l in head.layers] == ["InputLayer", "Dense"]
        results.append((model, head.predict(x, verbose=0), head.count_params()))
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-5, atol=1e-6)
    assert results[0][2] == results[1][2] == 10
    ours = results[0][0]
    head = shendu.keras.Model(ours.get_layer("hidden").output, ours.output)
    path = str(tmp_path / "head.keras")
    head.save(path)
    np.testing.assert_allclose(shendu.keras.models.load_model(path).predict(x, verbose=0), results[0][1], rtol=1e-6)
    assert len(ours.predict(np.ones((2, 5), "float32"), verbose=0)) == 2        # the full model is unchanged
