"""gruvsynth.plots: each plot function draws the data it is given on the axes it is given,
labels the axes with units, returns its artists; save_figure writes valid PNG and SVG files;
nothing touches pyplot."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.image import AxesImage
from matplotlib.lines import Line2D

from gruvsynth import plots
from gruvsynth.errors import ParameterError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _history(n=5, dev_every=1):
    return [{"epoch": e, "loss": 1.0 / e, "dev_loss": (2.0 / e if e % dev_every == 0 else None)}
            for e in range(1, n + 1)]


def test_loss_curves_draw_train_dashed_and_dev_solid_on_the_given_axes():
    fig, ax = plots.new_figure()
    train, dev = plots.plot_loss_curves(_history(6, dev_every=2), ax=ax, label="LSTM",
                                        color="tab:blue")
    assert isinstance(train, Line2D) and isinstance(dev, Line2D)
    assert train.axes is ax and dev.axes is ax
    np.testing.assert_allclose(train.get_xdata(), [1, 2, 3, 4, 5, 6])
    np.testing.assert_allclose(train.get_ydata(), [1 / e for e in range(1, 7)])
    # epochs without a dev loss are left out, not drawn as zeros
    np.testing.assert_allclose(dev.get_xdata(), [2, 4, 6])
    np.testing.assert_allclose(dev.get_ydata(), [1.0, 0.5, 2 / 6])
    assert train.get_linestyle() == "--" and dev.get_linestyle() == "-"
    assert train.get_label() == "LSTM train" and dev.get_label() == "LSTM dev"
    assert ax.get_xlabel() == "epoch" and "MSE" in ax.get_ylabel()
    assert ax.get_yscale() == "log"


def test_loss_curves_without_dev_loss_return_none_for_the_dev_line():
    history = [{"epoch": e, "loss": 1.0, "dev_loss": float("nan")} for e in (1, 2)]
    train, dev = plots.plot_loss_curves(history)
    assert isinstance(train.axes, Axes)
    assert dev is None


def test_loss_curves_accept_a_dict_of_arrays_and_check_lengths():
    train, _ = plots.plot_loss_curves({"epoch": [1, 2], "loss": [3.0, 2.0],
                                       "dev_loss": [4.0, 3.5]}, log=False)
    np.testing.assert_allclose(train.get_ydata(), [3.0, 2.0])
    assert train.axes.get_yscale() == "linear"
    with pytest.raises(ParameterError):
        plots.plot_loss_curves({"epoch": [1, 2], "loss": [3.0], "dev_loss": [1.0, 2.0]})


def test_hidden_sizes_sorted_on_a_log2_axis():
    line = plots.plot_hidden_sizes([512, 128, 2048], [0.5, 0.9, 0.3], label="GRU")
    np.testing.assert_allclose(line.get_xdata(), [128, 512, 2048])
    np.testing.assert_allclose(line.get_ydata(), [0.9, 0.5, 0.3])
    ax = line.axes
    assert ax.get_xscale() == "log"
    assert ax.get_xlabel() == "hidden size (units)"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["128", "512", "2048"]
    with pytest.raises(ParameterError):
        plots.plot_hidden_sizes([1, 2], [1.0])


def test_to_db_is_relative_to_the_reference_and_floored():
    db = plots.to_db(np.array([1.0, 0.1, 0.0]), floor_db=-60)
    np.testing.assert_allclose(db, [0.0, -20.0, -60.0])
    np.testing.assert_allclose(plots.to_db(np.array([1.0]), reference=10.0), [-20.0])
    np.testing.assert_allclose(plots.to_db(np.zeros(3), floor_db=-80), [-80.0] * 3)


def test_spectrogram_is_an_image_with_time_and_frequency_extent_in_seconds_and_khz():
    times = np.arange(1, 5) * 0.25
    freqs = np.linspace(0, 22050, 9)
    spec = np.ones((4, 9))
    spec[:, 4] = 10.0  # a loud bin at 11.025 kHz
    image = plots.plot_spectrogram(spec, times=times, frequencies=freqs)
    assert isinstance(image, AxesImage)
    left, right, bottom, top = image.get_extent()
    assert left == pytest.approx(0.125) and right == pytest.approx(1.125)
    assert bottom < 0 < 22.05 < top
    data = np.asarray(image.get_array())
    assert data.shape == (9, 4)  # frequency rows, time columns
    np.testing.assert_allclose(data[4], 0.0)  # the loudest bin is 0 dB
    np.testing.assert_allclose(data[0], -20.0)
    ax = image.axes
    assert ax.get_xlabel() == "time within clip (s)" and ax.get_ylabel() == "frequency (kHz)"
    with pytest.raises(ParameterError):
        plots.plot_spectrogram(spec.T, times=times, frequencies=freqs)


def test_spectra_share_a_reference_and_shade_the_band():
    freqs = np.linspace(0, 22050, 101)
    truth = np.ones(101)
    pred = np.full(101, 0.5)
    lines = plots.plot_spectra(freqs, {"ground truth": truth, "GRU predictions": pred})
    assert [ln.get_label() for ln in lines] == ["ground truth", "GRU predictions"]
    np.testing.assert_allclose(lines[0].get_ydata(), 0.0)
    np.testing.assert_allclose(lines[1].get_ydata(), 20 * np.log10(0.5))
    assert lines[1].get_color() == plots.CELL_COLORS["gru"]
    ax = lines[0].axes
    band = ax.patches[-1]
    x0, x1 = band.get_x(), band.get_x() + band.get_width()  # axvspan is a rectangle in data x
    assert (x0, x1) == pytest.approx((4.0, 7.0))
    assert ax.get_xlabel() == "frequency (kHz)" and "dB" in ax.get_ylabel()


def test_against_length_and_bars():
    line = plots.plot_against_length([1, 2, 3], [0.0, float("nan"), 1.0],
                                     ylabel="share of samples ending in a loop")
    np.testing.assert_allclose(line.get_xdata(), [1, 3])
    assert "seed" in line.axes.get_xlabel()
    bars = plots.plot_bars({"wesnoth": {"LSTM": 0.1, "GRU": 0.9},
                            "warzone2100": {"LSTM": 0.2, "GRU": None}},
                           ylabel="spectral flatness", reference=0.97,
                           reference_label="white noise")
    assert len(bars) == 2
    heights = [b.get_height() for b in bars[1]]
    assert heights[0] == pytest.approx(0.9) and np.isnan(heights[1])
    ax = bars[0][0].axes
    assert [t.get_text() for t in ax.get_xticklabels()] == ["wesnoth", "warzone2100"]
    assert ax.lines[-1].get_ydata()[0] == pytest.approx(0.97)


def test_save_figure_writes_valid_png_and_svg_atomically(tmp_path):
    fig, ax = plots.new_figure(width=3, height=2)
    plots.plot_loss_curves(_history(), ax=ax, label="LSTM")
    ax.set_title("wesnoth: LSTM, hidden 32")
    paths = plots.save_figure(fig, tmp_path / "sub" / "fig1.png")
    assert [p.name for p in paths] == ["fig1.png", "fig1.svg"]
    png = paths[0].read_bytes()
    assert png.startswith(PNG_SIGNATURE)
    import matplotlib.image

    pixels = matplotlib.image.imread(paths[0])
    assert pixels.shape[0] == 2 * 110 and pixels.shape[1] == 3 * 110
    svg = paths[1].read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg and "wesnoth" in svg
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["fig1.png", "fig1.svg"]


def test_plots_module_never_imports_pyplot():
    code = ("import sys, numpy as np; from gruvsynth import plots; "
            "fig, ax = plots.new_figure(); plots.plot_hidden_sizes([1, 2, 4], [3, 2, 1], ax=ax); "
            "import io; fig.savefig(io.BytesIO(), format='png'); "
            "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
