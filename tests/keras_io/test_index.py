"""The official Keras guides and examples (keras-team/keras-io) that the suite runs on shendu with only
the imports changed, each with the test that runs it. Each program runs on local or synthetic data with
fewer epochs and asserts a result in the reference's range: Keras 3 on its torch backend run on the same
code and data (from the same weights where the numbers are compared), or tf.keras 2's semantics where the
program is tf.keras 2 code."""
import ast
import os

import pytest

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# keras-io path -> "tests/<module>.py::<test function>"
PROGRAMS = {
    # vision
    "examples/vision/mnist_convnet.py": "keras_io/test_vision.py::test_mnist_convnet_learns_as_keras_does",
    "examples/keras_recipes/subclassing_conv_layers.py":
        "keras_io/test_vision.py::test_convolution_op_override_matches_keras",
    "examples/keras_recipes/quasi_svm.py":
        "keras_io/test_vision.py::test_quasi_svm_trains_a_hinge_model_on_random_fourier_features",
    "examples/vision/grad_cam.py":
        "models/test_graph_access.py::test_grad_cam_model_from_an_inner_layer_output_matches_keras",
    "examples/vision/knowledge_distillation.py":
        "models/test_step_contract.py::test_knowledge_distillation_matches_keras",
    # generative
    "examples/generative/dcgan_overriding_train_step.py":
        "models/test_step_contract.py::test_gan_overriding_train_step_matches_keras",
    "examples/generative/vae.py":
        "keras_io/test_generative.py::test_vae_overriding_train_step_with_gradient_tape_learns",
    # recipes
    "examples/keras_recipes/trainer_pattern.py": "models/test_step_contract.py::test_trainer_pattern_matches_keras",
    "examples/keras_recipes/endpoint_layer_pattern.py":
        "models/test_add_loss.py::test_endpoint_layer_pattern_matches_keras",
    "examples/keras_recipes/antirectifier.py": "keras_io/test_guides_layers.py::test_antirectifier_matches_keras",
    # text
    "examples/nlp/text_classification_from_scratch.py":
        "data/test_keras_io_pipelines.py::test_text_classification_from_scratch",
    "examples/nlp/text_classification_with_transformer.py":
        "keras_io/test_transformer_text.py::test_transformer_classifier_inference_matches_keras",
    "examples/nlp/pretrained_word_embeddings.py":
        "keras_io/test_sequences.py::test_pretrained_word_embeddings_with_random_vectors",
    "examples/nlp/bidirectional_lstm_imdb.py": "keras_io/test_sequences.py::test_bidirectional_lstm_on_reviews",
    "examples/nlp/addition_rnn.py": "keras_io/test_sequences.py::test_addition_rnn_matches_keras",
    "examples/nlp/lstm_seq2seq.py":
        "models/test_graph_access.py::test_seq2seq_inference_models_rebuilt_from_the_trained_model_match_keras",
    # timeseries
    "examples/timeseries/timeseries_anomaly_detection.py":
        "layers/test_conv_extra.py::test_the_keras_io_conv1d_transpose_autoencoder_matches_keras",
    "examples/timeseries/timeseries_classification_from_scratch.py":
        "keras_io/test_sequences.py::test_timeseries_classification_from_scratch_matches_keras",
    "examples/timeseries/timeseries_weather_forecasting.py":
        "data/test_keras_io_pipelines.py::test_timeseries_weather_forecasting",
    # guides
    "guides/functional_api.py":
        "keras_io/test_guides_layers.py::test_functional_api_multi_input_multi_output_matches_keras",
    "guides/sequential_model.py":
        "models/test_graph_access.py::test_sequential_layers_have_outputs_for_feature_extraction",
    "guides/making_new_layers_and_models_via_subclassing.py":
        "keras_io/test_guides_layers.py::test_making_new_layers_guide_matches_keras",
    "guides/understanding_masking_and_padding.py":
        "keras_io/test_guides_layers.py::test_masking_and_padding_guide_matches_keras",
    "guides/working_with_rnns.py": "keras_io/test_sequences.py::test_working_with_rnns_guide_matches_keras",
    "guides/customizing_what_happens_in_fit.py":
        "models/test_step_contract.py::test_tf_keras2_guide_train_step_logs_what_the_default_step_logs",
    "guides/custom_train_step_in_torch.py": "models/test_step_contract.py::test_keras3_guide_train_step_matches_keras",
    "guides/writing_a_training_loop_from_scratch.py":
        "keras_io/test_guides_training.py::test_training_loop_from_scratch_with_gradient_tape_matches_keras",
    "guides/training_with_built_in_methods.py":
        "keras_io/test_guides_training.py::test_training_with_built_in_methods_matches_keras",
    "guides/writing_your_own_callbacks.py":
        "keras_io/test_guides_callbacks_saving.py::test_custom_callback_hooks_match_keras",
    "guides/serialization_and_saving.py":
        "keras_io/test_guides_callbacks_saving.py::test_serialization_and_saving_guide_round_trips",
}


def _test_functions(module_path):
    with open(os.path.join(TESTS, module_path), encoding="utf-8") as f:
        tree = ast.parse(f.read())
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}


def test_at_least_25_keras_io_programs_are_run():
    assert len(PROGRAMS) >= 25
    assert all(path.startswith(("examples/", "guides/")) and path.endswith(".py") for path in PROGRAMS)


@pytest.mark.parametrize("path", sorted(PROGRAMS))
def test_each_listed_program_has_its_test(path):
    module, name = PROGRAMS[path].split("::")
    assert name in _test_functions(module), f"{PROGRAMS[path]} (running {path}) does not exist"
    # the test's module names the program it runs, so a reader finds it from either side
    with open(os.path.join(TESTS, module), encoding="utf-8") as f:
        assert path.split("/")[-1] in f.read()
