import numpy as np
import pytest

from emscale.core.peaks import local_maxima, parabola_vertex


def test_log_parabola_vertex_is_exact_for_sampled_gaussians_in_two_and_three_dimensions():
    for true in ([7.3, 11.62], [5.4, 9.2, 12.77]):
        grid = np.indices((24,) * len(true), dtype=float)
        x = np.exp(-sum((g - t) ** 2 for g, t in zip(grid, true, strict=True)) / (2 * 1.3**2))
        peaks = local_maxima(x, 3)
        assert peaks.tolist() == [np.round(true).astype(int).tolist()]
        np.testing.assert_allclose(parabola_vertex(x, peaks, log=True)[0], true, atol=1e-9)
        # the plain parabola is not exact on a Gaussian, but it moves the right way by less than half a sample
        plain = parabola_vertex(x, peaks)[0]
        assert np.all(np.abs(plain - true) < np.abs(peaks[0] - np.asarray(true)) + 1e-12)


def test_plain_parabola_vertex_is_exact_for_a_sampled_parabola():
    t = np.arange(9.0)
    x = 10.0 - (t - 4.3) ** 2
    np.testing.assert_allclose(parabola_vertex(x, local_maxima(x, 3)), [[4.3]], atol=1e-12)
    # a peak on the last sample has no right neighbour: it keeps its index, no step is made
    np.testing.assert_allclose(parabola_vertex(np.array([0.0, 1, 2, 3, 5]), [[4]]), [[4.0]])


def test_peaks_on_a_face_keep_their_index_and_the_border_can_be_excluded():
    x = np.zeros((10, 10))
    x[0, 4], x[0, 3], x[0, 5], x[1, 4] = 5.0, 1.0, 3.0, 2.0  # on the top face; leans toward column 5
    x[6, 6] = 4.0
    peaks = local_maxima(x, 3)
    assert peaks.tolist() == [[0, 4], [6, 6]]
    pos = parabola_vertex(x, peaks)
    assert pos[0, 0] == 0.0 and 4.0 < pos[0, 1] < 4.5  # no row step on the face, a column step toward 5
    assert pos[1].tolist() == [6.0, 6.0]  # flat neighbours on both sides of a spike: no step
    assert local_maxima(x, 3, exclude_border=1).tolist() == [[6, 6]]
    # exclude_border b drops the peaks fewer than b samples from a face: index 3 goes with b = 4, stays with b = 3
    y = np.zeros((12, 12))
    y[3, 6], y[6, 6] = 2.0, 3.0
    assert local_maxima(y, 3, exclude_border=3).tolist() == [[3, 6], [6, 6]]
    assert local_maxima(y, 3, exclude_border=4).tolist() == [[6, 6]]
    assert local_maxima(y, 3, exclude_border=None).tolist() == local_maxima(y, 3).tolist()
    for bad in (-1, 0.5, True):
        with pytest.raises(ValueError, match="exclude_border"):
            local_maxima(y, 3, exclude_border=bad)


def test_a_peak_next_to_a_face_is_refined_and_one_on_a_negative_face_is_found():
    t = np.arange(7.0)
    x = -50.0 + 10.0 * np.exp(-((t - 0.7) ** 2) / 2.0)  # all negative; its maximum is one sample in from a face
    peaks = local_maxima(x, 3)
    assert peaks.tolist() == [[1]]
    np.testing.assert_allclose(parabola_vertex(x - x.min() + 1e-3, peaks, log=True), [[0.7]], atol=0.05)
    r = x[::-1]  # the same one sample in from the far face
    np.testing.assert_allclose(parabola_vertex(r - r.min() + 1e-3, local_maxima(r, 3), log=True), [[5.3]], atol=0.05)
    face = -50.0 + 10.0 * np.exp(-((t + 0.2) ** 2) / 2.0)  # the maximum on the face itself, everything below zero
    assert local_maxima(face, 3).tolist() == [[0]]


def test_unsigned_samples_do_not_wrap_around():
    x = np.array([0, 100, 250, 200, 0], np.uint8)
    np.testing.assert_allclose(parabola_vertex(x, local_maxima(x, 3)), parabola_vertex(x.astype(float), [[2]]))
    assert 2.0 < parabola_vertex(x, [[2]])[0, 0] < 2.5


def test_maxima_at_or_below_the_median_are_not_peaks():
    x = np.ones((8, 8))
    x[2, 2] = 0.5  # below the median but a plateau surrounds it: no maxima at all except the plateau itself
    assert len(local_maxima(x, 3)) == 0  # the plateau equals the median, so it is background
    x[5, 5] = 2.0
    assert local_maxima(x, 3).tolist() == [[5, 5]]
