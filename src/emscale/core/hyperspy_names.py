"""HyperSpy's names for what a :class:`~emscale.core.signal.Signal` does another way, and that way: an attribute a
HyperSpy user reaches for by habit is refused with the emscale equivalent (a bare AttributeError named nothing to
use instead). The table of ``docs/coming_from_hyperspy.md`` in one line each."""

from __future__ import annotations

HYPERSPY_EQUIVALENTS = {
    "axes_manager": "s.axes (numpy order), s.user_axes (HyperSpy's order), s.nav_axes, s.sig_axes, s.axis(name)",
    "crop": "s.inav[...] or s.isig[...] (integers are indices, floats calibrated values; recorded)",
    "crop_signal": "s.isig[start:stop] (floats are calibrated values; recorded)",
    "deepcopy": "no copy is needed: every step returns a new Signal (only s *= 2 and the like change s)",
    "change_dtype": "s.astype('float32') (recorded; a cast that would round or wrap is refused)",
    "set_signal_type": "em.load(path, signal_type='EELS') labels a signal on load",
    "decomposition": "d = s.decompose() (or em.decompose(s, method)): a Decomposition with factors and loadings",
    "blind_source_separation": "s.decompose('ica', n_components=k)",
    "learning_results": "the Decomposition that s.decompose() returns",
    "align1D": "emscale.spectroscopy.align.align_spectra(s, signal_range=(E1, E2))",
    "align_zero_loss": "emscale.spectroscopy.eels.align_zero_loss(s)",
    "estimate_thickness": "emscale.spectroscopy.eels.thickness(s)",
    "spikes_removal_tool": "emscale.spectroscopy.eds.remove_spikes(s)",
    "add_elements": "the elements are read from the file's metadata; name others to "
                    "emscale.spectroscopy.eds.line_maps(s, ['Fe', 'Cu_Ka'])",
    "get_lines_intensity": "emscale.spectroscopy.eds.line_maps(s) (line_maps(s, width=2.0, background_windows=False) "
                           "is exspy's default call)",
    "as_signal2D": "s.transpose(signal_axes=[...]) names the signal axes",
    "as_signal1D": "s.transpose(signal_axes=[...]) names the signal axes",
    "integrate1D": "s.sum(axis) (axes by number, HyperSpy's order, or by name)",
}
