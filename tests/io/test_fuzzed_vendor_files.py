"""Damaged vendor files: every real file, truncated or with bytes flipped at seeded places, either loads or raises
FileFormatError naming the file -- never another exception, a hang, or a silent change of the input."""

from __future__ import annotations

import hashlib
import shutil

import numpy as np
import pytest

import emscale as em
from emscale.core.errors import FileFormatError

FILES = ["EELS_SI.dm4", "test-EELS_spectrum.dm3", "test-EDS_spectrum.dm3", "test-MonoCL_spectrum-SI.dm4",
         "30x30_instructively_packed_16bit_compressed.bcf", "tomography/HAADF.mrc"]


def _damaged(src, dst, kind: str, seed: int):
    raw = bytearray(src.read_bytes())
    rng = np.random.default_rng(seed)
    if kind == "truncate":
        raw = raw[: int(len(raw) * rng.uniform(0.05, 0.9))]
    elif kind == "flip":  # a burst of random bytes, in the header half the time
        n = len(raw)
        start = int(rng.integers(0, min(n, 4096))) if seed % 2 else int(rng.integers(0, n))
        burst = rng.integers(0, 256, size=min(64, n - start), dtype=np.uint8)
        raw[start : start + len(burst)] = burst.tobytes()
    else:  # "zero": a zeroed block
        n = len(raw)
        start = int(rng.integers(0, n))
        raw[start : start + 512] = bytes(len(raw[start : start + 512]))
    dst.write_bytes(bytes(raw))
    return dst


@pytest.mark.parametrize("name", FILES)
@pytest.mark.parametrize("kind, seed", [("truncate", 1), ("truncate", 2), ("flip", 3), ("flip", 4), ("zero", 5)])
def test_a_damaged_vendor_file_loads_or_names_the_problem(real_dir, tmp_path, name, kind, seed):
    src = real_dir / name
    before = hashlib.sha256(src.read_bytes()).hexdigest()
    bad = _damaged(src, tmp_path / src.name, kind, seed)
    try:
        got = em.load(bad)
    except FileFormatError as exc:
        assert bad.name in str(exc)
    else:  # damage in a place the reader does not check (padding, image data): it loads, with its own history
        for s in got if isinstance(got, list) else [got]:
            assert s.history[0]["source"]["sha256"] != before
    assert hashlib.sha256(src.read_bytes()).hexdigest() == before  # the input is never modified


@pytest.mark.parametrize("name", ["tomography/HAADF.mrc", "EELS_SI.dm4",
                                  "30x30_instructively_packed_16bit_compressed.bcf"])
def test_a_file_cut_short_is_said_so_before_any_missing_optional_reader(real_dir, tmp_path, name):
    """A .mrc cut to half was "could not be read (corrupt or truncated?) -- MRCZ: reader unavailable (No module
    named 'mrcz'); MRC: ValueError: mmap length is greater than file size": it led with an optional module that
    has nothing to do with the file (a new user's reading)."""
    src = real_dir / name
    bad = tmp_path / src.name
    bad.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    with pytest.raises(FileFormatError) as exc:
        em.load(bad)
    said = str(exc.value)
    assert said.startswith(f"{bad}: the file is shorter than its headers describe (cut short, or a damaged header)"
                           " -- ")
    tried = said.split(" -- ", 1)[1]
    assert not tried.startswith(tuple(f"{n}: reader unavailable" for n in ("MRCZ", "MRC", "DigitalMicrograph",
                                                                            "Bruker")))


def test_an_empty_or_unknown_file_is_named(tmp_path, real_dir):
    empty = tmp_path / "empty.dm4"
    empty.write_bytes(b"")
    with pytest.raises(FileFormatError, match="empty.dm4.*empty"):
        em.load(empty)
    odd = tmp_path / "x.notaformat"
    shutil.copy(real_dir / "EELS_SI.dm4", odd)
    with pytest.raises(FileFormatError, match="unknown file extension"):
        em.load(odd)


@pytest.mark.parametrize("read", ["lazy", "eager", "convert"])
def test_a_npy_of_python_objects_is_refused_for_what_it_is(tmp_path, read):
    """An object-dtype .npy (pickled objects) was "could not be read (corrupt or truncated?) -- numpy:
    NotImplementedError: Can not use auto rechunking with object dtype" lazily (info, history, convert) and
    "... (corrupt or truncated?) -- numpy: ValueError: Object arrays cannot be loaded when allow_pickle=False"
    eagerly (run)."""
    evil = tmp_path / "evil.npy"
    np.save(evil, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    with pytest.raises(FileFormatError) as err:
        if read == "convert":
            em.convert(evil, tmp_path / "e.zarr")
        else:
            em.load(evil, lazy=read == "lazy")
    assert str(err.value).startswith(f"{evil}: a .npy of Python objects (dtype object), not of numbers"), err.value
    assert "allow_pickle=False" in str(err.value) and "corrupt" not in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evil.npy"]


@pytest.mark.parametrize("name, renamed, said", [
    ("EELS_SI.dm4", "x.bcf", "a Gatan DM4 file, not of a .bcf file"),
    ("test-EELS_spectrum.dm3", "x.emd", "a Gatan DM3 file, not of a .emd file"),
    ("30x30_instructively_packed_16bit_compressed.bcf", "x.dm3", "a Bruker .bcf file, not of a .dm3 file"),
    ("velox_EELS_EDS.zip", "x.emd", r"a zip archive \(unzip it first\), not of a .emd file"),
])
def test_a_renamed_file_is_named_as_what_it_is(real_dir, tmp_path, name, renamed, said):
    # a DM4 file named .bcf read "could not be read (corrupt or truncated?)": the file was fine, its name was not
    shutil.copy(real_dir / name, tmp_path / renamed)
    with pytest.raises(FileFormatError, match=f"{renamed}: could not be read -- its first bytes are those of {said} "
                                              r"\(renamed\?\)"):
        em.load(tmp_path / renamed)
    shutil.copy(real_dir / "test-EELS_spectrum.dm3", tmp_path / "y.dm4")  # one reader reads both: it loads
    assert em.load(tmp_path / "y.dm4").signal_type == "EELS"


@pytest.mark.parametrize("name", ["tomography/HAADF.mrc", "EELS_SI.dm4", "test-MonoCL_spectrum-SI.dm4"])
@pytest.mark.parametrize("seed", [1, 2])
def test_a_truncated_memory_mapped_file_opened_lazily_is_named_at_once(real_dir, tmp_path, name, seed):
    # the lazy MRC opened and failed later, in a computation, with "mmap length is greater than file size"
    bad = _damaged(real_dir / name, tmp_path / (real_dir / name).name, "truncate", seed)
    try:
        got = em.load(bad, lazy=True)
    except FileFormatError as exc:
        assert bad.name in str(exc)
    else:  # the cut spared the data (a trailing tag section): they read to the end
        for s in got if isinstance(got, list) else [got]:
            float(np.sum(s.to_numpy(), dtype=np.float64))


@pytest.mark.parametrize("keep", [300_000, 600_000, 925_000])
def test_a_truncated_bcf_opened_lazily_is_named_at_once(real_dir, tmp_path, keep):
    # the lazy .bcf opened, and its first computation (sum, save, compute) failed with a raw zlib.error naming no file
    bad = tmp_path / "map.bcf"
    bad.write_bytes((real_dir / "30x30_instructively_packed_16bit_compressed.bcf").read_bytes()[:keep])
    with pytest.raises(FileFormatError, match=r"map\.bcf: the file is truncated"):
        em.load(bad, lazy=True)


def test_a_whole_bcf_opened_lazily_reads_as_in_memory(real_dir):
    lazy = em.load(real_dir / "30x30_instructively_packed_16bit_compressed.bcf", lazy=True)[1]
    eager = em.load(real_dir / "30x30_instructively_packed_16bit_compressed.bcf")[1]
    assert np.array_equal(lazy.to_numpy(), eager.data) and eager.data.sum() > 0


def test_a_readers_error_log_joins_the_error_instead_of_printing(capfd):
    # a corrupt .zspy printed RosettaSciIO's "ERROR | The file can't be read..." above emscale's own line
    import logging

    from emscale.io.vendor import _ReaderLog

    with _ReaderLog() as said:
        logging.getLogger("rsciio._hierarchical").error("The file can't be read.")
        logging.getLogger("rsciio").warning("kept as it was")
    assert said.text() == " (the reader logged: The file can't be read.)"
    err = capfd.readouterr().err
    assert "The file can't be read" not in err
    with pytest.warns(UserWarning, match="the file's reader logged an error but read the file: The file can't be"):
        said.warn("x.zspy")
