"""shendu.summary: tf.summary's calls write event files that TensorBoard's own reader reads back."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import read_events as _read, without_tensorboard as _without_tensorboard

import shendu as sd
from shendu import summary




def test_summary_scalar_histogram_image_text_round_trip(tmp_path, rng, tensorboard):
    writer = summary.create_file_writer(tmp_path / "run")
    values = rng.normal(size=1000)
    with writer.as_default(step=0):
        for step in range(4):
            assert summary.scalar("loss", sd.tensor(np.float32(1.0 / (step + 1))), step=step)
        assert summary.histogram("weights", values, step=3, buckets=10)
        assert summary.image("digits", rng.random((2, 5, 7, 1)), step=1, max_outputs=3)
        assert summary.image("one", np.zeros((1, 4, 4, 3), dtype=np.uint8))          # the default step
        assert summary.text("note", "learning **rate** 0.1", step=2)
    writer.close()
    acc = _read(tmp_path / "run")
    assert [(e.step, e.value) for e in acc.Scalars("loss")] == [
        (s, pytest.approx(1.0 / (s + 1))) for s in range(4)]
    h = acc.Histograms("weights")[0]
    assert h.step == 3 and h.histogram_value.num == 1000 and sum(h.histogram_value.bucket) == 1000
    assert h.histogram_value.min == pytest.approx(values.min()) and h.histogram_value.max == pytest.approx(values.max())
    images = acc.Images("digits/0")
    assert images[0].step == 1 and (images[0].width, images[0].height) == (7, 5)
    assert images[0].encoded_image_string[:8] == b"\x89PNG\r\n\x1a\n" and acc.Images("digits/1")
    assert acc.Images("one")[0].step == 0
    assert acc.Tensors("note")[0].tensor_proto.string_val == [b"learning **rate** 0.1"]


def test_summary_without_a_writer_writes_nothing():
    assert summary.scalar("loss", 1.0, step=0) is False         # no default writer: nothing written
    with summary.create_noop_writer().as_default():
        assert summary.histogram("w", [1.0, 2.0], step=0) is False


def test_a_file_writer_without_tensorboard_names_the_monitor_extra(tmp_path, monkeypatch):
    _without_tensorboard(monkeypatch)
    with pytest.raises(ImportError, match=r"needs the tensorboard package: pip install 'shendu\[monitor\]'"):
        summary.create_file_writer(tmp_path)


def test_summary_without_a_step(tmp_path, tensorboard):
    with summary.create_file_writer(tmp_path).as_default():
        with pytest.raises(ValueError, match="no step given"):
            summary.scalar("loss", 1.0)


def test_summary_rejects_wrong_shapes(tmp_path, tensorboard):
    with summary.create_file_writer(tmp_path).as_default(step=0):
        with pytest.raises(ValueError, match="one number"):
            summary.scalar("loss", [1.0, 2.0])
        with pytest.raises(ValueError, match=r"x\[None\]"):
            summary.image("img", np.zeros((4, 4, 1)))
