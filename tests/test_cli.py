"""The command line: each command works, and bad input ends in one line on stderr with a non-zero exit."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import emscale as em
from emscale.cli import main

BCF = "30x30_instructively_packed_16bit_compressed.bcf"


def run(capsys, *args):
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_info_lists_signals_axes_and_metadata(real_dir, capsys):
    code, out, err = run(capsys, "info", str(real_dir / BCF))
    assert code == 0, err
    assert "2 signal(s)" in out
    assert "(30, 30|2048) uint16" in out
    assert "Energy (sig, 2048): scale 0.009999, offset -0.472253 keV" in out
    assert "SEM.beam_energy: 20" in out
    assert "'Fe'" in out


def test_convert_then_info_and_history(real_dir, tmp_path, capsys):
    dst = tmp_path / "eds.zarr"
    code, out, err = run(capsys, "convert", str(real_dir / BCF), str(dst), "--signal-type", "EDS_SEM",
                         "--chunks", "10,30,2048")
    assert code == 0, err
    assert "wrote" in out
    np.testing.assert_array_equal(em.load(dst).data, em.load(real_dir / BCF, signal_type="EDS_SEM").data)
    code, out, err = run(capsys, "history", str(dst))
    assert code == 0
    assert "load(lazy=True, index=1)" in out and "sha256:2ed9597332ee" in out
    code, out, err = run(capsys, "convert", str(real_dir / BCF), str(dst), "--signal-type", "EDS_SEM")
    assert code == 2 and "already exists" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_convert_of_a_file_with_several_signals_lists_them_and_names_the_options(real_dir, tmp_path, capsys):
    """It said "holds 2 signals; pick one with signal_type= or index= (--signal-type, --index)": the Python keywords
    on the command line, and no word of which signals there are."""
    code, out, err = run(capsys, "convert", str(real_dir / BCF), str(tmp_path / "x.zarr"))
    assert code == 2 and err.strip() == (f"emscale: error: {real_dir / BCF} holds 2 signals (0: 'AsB' image (|30, 30); "
                                         "1: 'EDX' EDS_SEM (30, 30|2048)); pick one with --index or --signal-type to "
                                         "convert"), err
    assert not (tmp_path / "x.zarr").exists()


def test_history_as_json_or_recipe_of_a_file_with_several_signals_picks_one(real_dir, capsys):
    """`history --json` / `--as-recipe` of the Bruker file printed two documents one after the other, exit 0: no
    JSON, and a TOML that declares [input] twice."""
    import json
    import tomllib

    for fmt in ("--json", "--as-recipe"):
        code, out, err = run(capsys, "history", str(real_dir / BCF), fmt)
        assert code == 2 and out == "" and err.strip() == (
            f"emscale: error: {real_dir / BCF} holds 2 signals (0: 'AsB' image (|30, 30); 1: 'EDX' EDS_SEM "
            f"(30, 30|2048)); pick one with --index or --signal-type for {fmt}"), err
    code, out, err = run(capsys, "history", str(real_dir / BCF), "--json", "--index", "1")
    assert code == 0 and json.loads(out)[0]["params"] == {"lazy": True, "index": 1}
    code, out, err = run(capsys, "history", str(real_dir / BCF), "--as-recipe", "--signal-type", "EDS_SEM")
    assert code == 0 and tomllib.loads(out)["input"]["index"] == 1
    code, out, err = run(capsys, "history", str(real_dir / BCF))  # the listing of each stays as it was
    assert code == 0 and "[0] <Signal image 'AsB'" in out and "load(lazy=True, index=1)" in out


def test_convert_of_a_truncated_vendor_file_is_one_line_and_writes_nothing(real_dir, tmp_path, capsys):
    """The Bruker file cut in half: its header still reads, the compressed spectra do not (zlib). That was
    'emscale: error: error: Error -5 ...' with exit code 1, naming neither the file nor the cause."""
    half = tmp_path / "half.bcf"
    raw = (real_dir / BCF).read_bytes()
    half.write_bytes(raw[: len(raw) // 2])
    dst = tmp_path / "eds.zarr"
    code, out, err = run(capsys, "convert", str(half), str(dst), "--index", "1")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert f"{half}: the file is truncated" in err  # said when it is opened (its chunk tables), before any read
    assert not dst.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["half.bcf"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["info", "/no/such/file.dm3"], "no such file"),
        (["convert", "/no/such/file.dm3", "out.zarr"], "no such file"),
        (["info", "{tmp}/bad.xyz"], "unknown file extension"),
        (["convert", "{tmp}/bad.xyz", "{tmp}/out.txt"], "must be a name ending in .zarr"),
        (["convert", "{tmp}/bad.xyz", "{tmp}/.zarr"], "/.zarr: must be a name ending in .zarr (e.g. data.zarr)"),
        (["convert", "{tmp}/bad.xyz", "{tmp}/o.zarr", "--chunks", "a,b"], "--chunks"),
    ],
)
def test_bad_input_is_one_line(tmp_path, capsys, args, message):
    (tmp_path / "bad.xyz").write_text("x")
    args = [a.format(tmp=tmp_path) for a in args]
    code, out, err = run(capsys, *args)
    assert code != 0
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize("args, message", [(["replay", "out", "-o", "x"], "No such option: -o"),
                                           (["nosuchcmd"], "No such command 'nosuchcmd'")])
def test_usage_errors_show_the_usage_and_exit_2(capsys, args, message):
    """A wrong option or command gets click's usage message and exit code 2, whichever click typer raises it from
    (typer 0.2x vendors its own: the error was printed as ``NoSuchOption: ...`` with exit code 1)."""
    code, out, err = run(capsys, *args)
    assert code == 2
    assert message in err and "Usage:" in err and "--help" in err
    assert "NoSuchOption" not in err and "Traceback" not in err


def test_debug_shows_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "emscale", "--debug", "info", str(tmp_path / "missing.dm3")],
        capture_output=True, text=True,
    )
    assert proc.returncode != 0 and "Traceback" in proc.stderr


@pytest.mark.parametrize("cmd", [[], ["info"], ["convert"], ["history"], ["demo"]])
def test_help_on_every_command(cmd):
    proc = subprocess.run([sys.executable, "-m", "emscale", *cmd, "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "Usage" in proc.stdout


def test_a_saved_result_opens_with_info_history_and_load_result(tmp_path, capsys):
    # emscale run writes pca.npz beside signal.zarr; info, history and em.load answered with 60 file extensions
    x = np.random.default_rng(0).poisson(5.0, (6, 7, 32)).astype(np.uint16)
    d = em.decompose(em.Signal(x), "pca", n_components=2)
    path = d.save(tmp_path / "pca.npz")
    code, out, _ = run(capsys, "info", str(path))
    assert code == 0 and "an emscale result: emscale-decomposition" in out and "factors: 32 x 2" in out
    code, out, _ = run(capsys, "history", str(path))
    assert code == 0 and "decompose(method='pca'" in out
    code, out, err = run(capsys, "history", str(path), "--json", "--index", "0")
    assert code == 2 and "is an emscale result, which holds one history: --index and --signal-type pick" in err
    with pytest.raises(em.FileFormatError, match=r"is an emscale result \(emscale-decomposition\), not a signal: "
                                                 r"open it with em.load_result"):
        em.load(path)
    again = em.load_result(path)
    np.testing.assert_array_equal(again.factors_array, d.factors_array)


def test_a_saved_result_history_is_held_as_a_signal_holds_it(tmp_path, capsys):
    # load_result gave the history decoded (slice objects, arrays): `emscale history --json` of any result made
    # after a slice failed with "Object of type slice is not JSON serializable"
    x = np.random.default_rng(0).poisson(5.0, (6, 7, 32)).astype(np.uint16)
    nav = np.zeros((6, 7), bool)
    nav[0] = True
    d = em.decompose(em.Signal(x).isig[2:30], "pca", n_components=2, navigation_mask=nav)
    path = d.save(tmp_path / "pca.npz")
    assert em.load_result(path).history == d.history
    code, out, _ = run(capsys, "history", str(path), "--json")
    assert code == 0 and json.loads(out) == d.history


def test_warnings_are_one_line_like_errors(monkeypatch, capsys):
    """`emscale run` printed warnings the Python way: 'runner.py:161: UserWarning: ...' and the source line."""
    import warnings

    import emscale.cli as cli

    def warns(args, debug, received):
        warnings.warn("the counts are few", UserWarning, stacklevel=1)
        return 0

    monkeypatch.setattr(cli, "_main", warns)
    assert cli.main(["run"]) == 0
    err = capsys.readouterr().err
    assert err == "emscale: warning: the counts are few\n", err
    assert warnings.showwarning is not cli._warning_line  # the standard display is back


def test_pattern_writes_the_positions_a_scan_generator_reads(tmp_path, capsys):
    # the position lists existed only in the Python API; the CLI and recipes had no way to export a pattern
    from emscale.sampling import load_positions, make_pattern, positions

    out = tmp_path / "scan.csv"
    code, said, err = run(capsys, "pattern", "line_hop", "-o", str(out), "--shape", "64", "80", "--fraction",
                          "0.15", "--seed", "2", "--order", "serpentine")
    mask = make_pattern("line_hop", (64, 80), 0.15, 2)
    assert code == 0 and f"{int(mask.sum())} of 5120 positions" in said
    assert np.array_equal(load_positions(out, (64, 80)), mask)
    assert np.array_equal(np.loadtxt(out, delimiter=",", skiprows=1, dtype=np.int64), positions(mask, "serpentine"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scan.csv"]  # no temporary left beside it
    for args, message in [(["random", "-o", str(out), "--shape", "8", "8"], "already exists"),
                          (["spiral", "-o", str(tmp_path / "s.npy"), "--shape", "8", "8"], "unknown pattern"),
                          (["random", "-o", str(tmp_path / "s.txt"), "--shape", "8", "8"], ".npy or .csv"),
                          # it was accepted and ignored
                          (["random", "-o", str(tmp_path / "r.csv"), "--shape", "8", "8", "--mean-run", "3"],
                           "--mean-run applies to line_hop scans only, not to random")]:
        code, _, err = run(capsys, "pattern", *args)
        assert code != 0 and message in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scan.csv"]
    code, said, err = run(capsys, "pattern", "line_hop", "-o", str(tmp_path / "h.npy"), "--shape", "64", "80",
                          "--mean-run", "8")
    assert code == 0 and np.array_equal(load_positions(tmp_path / "h.npy", (64, 80)),
                                        make_pattern("line_hop", (64, 80), 0.1, 0, mean_run=8.0))


def test_info_on_a_position_list_says_it_is_one_in_a_line(tmp_path, capsys):
    # `emscale info` on what `emscale pattern` writes said "could not be read (corrupt or truncated?) -- Impulse:
    # ...; Protochips: ..." for a .csv and showed an .npy as an image of 2 x n pixels
    for name in ("scan.csv", "scan.npy"):
        code, said, _ = run(capsys, "pattern", "random", "-o", str(tmp_path / name), "--shape", "30", "40")
        assert code == 0 and "120 of 1200 positions" in said, said
        code, out, err = run(capsys, "info", str(tmp_path / name))
        assert code == 0 and err == "" and len(out.strip().splitlines()) == 1, (out, err)
        assert out.startswith(f"{tmp_path / name}: a scan position list (row, column), not a signal file: 120 "
                              "positions, rows 0-"), out
    (tmp_path / "dup.csv").write_text("row,column\n0,1\n0,1\n3,5\n")
    code, out, err = run(capsys, "info", str(tmp_path / "dup.csv"))
    assert code == 0 and ("3 positions, 1 of them repeating an earlier one, rows 0-3, columns 1-5 (a grid of at "
                          "least 4 x 6: the list does not record its size)") in out, (out, err)
    np.save(tmp_path / "image.npy", np.arange(12.0).reshape(6, 2))  # a float array is data, not positions
    code, out, err = run(capsys, "info", str(tmp_path / "image.npy"))
    assert code == 0 and "position list" not in out and "signal(s)" in out, (out, err)


def test_pattern_help_names_the_shape_as_two_numbers():
    # it read "--shape <int,int>...", and "--shape 64,64" was refused
    from typer.testing import CliRunner

    from emscale.cli import app

    said = CliRunner().invoke(app, ["pattern", "--help"], env={"COLUMNS": "200"}).output
    assert "ROWS COLUMNS" in said and "<int,int>" not in said


def test_version_is_printed():
    from typer.testing import CliRunner

    import emscale
    from emscale.cli import app

    out = CliRunner().invoke(app, ["--version"])
    assert out.exit_code == 0 and out.output.strip() == f"emscale {emscale.__version__}"


def test_info_of_a_path_inside_a_store_names_the_store(tmp_path, capsys):
    """``emscale info X.zarr/data`` (the store's zarr array) printed zarr's ContainsArrayError."""
    store = tmp_path / "x.zarr"
    em.Signal(np.arange(6.0).reshape(2, 3)).save(store)
    for inside in (store / "data", store / "zarr.json", next((store / "data").rglob("0"))):
        code, out, err = run(capsys, "info", str(inside))
        assert code == 2 and len(err.strip().splitlines()) == 1, err
        assert f"{inside} lies inside the emscale store {store}: open the store itself" in err
        assert f"`emscale info {store}`" in err and "ContainsArrayError" not in err
    code, out, err = run(capsys, "info", str(store))
    assert code == 0 and "(2|3) float64" in out


def test_history_shows_parameters_as_python(tmp_path, capsys):
    """`emscale history` printed the codec's encoding: signal_range={'tuple': [70.2, 97.2]},
    key={'tuple': [{'slice': [94.5, 110.1, None]}]}."""
    x = np.random.default_rng(0).poisson(50.0, (3, 4, 64)).astype(np.float32)
    s = em.Signal(x, axes=[{"name": "y"}, {"name": "x"}, {"name": "E", "offset": 60.0, "scale": 1.0}])
    s.save(tmp_path / "raw.zarr")
    out_s = em.load(tmp_path / "raw.zarr").remove_background(signal_range=(70.2, 97.2)).isig[94.5:110.1]
    out_s.save(tmp_path / "s.zarr")
    code, out, _ = run(capsys, "history", str(tmp_path / "s.zarr"))
    assert code == 0
    assert "remove_background(signal_range=(70.2, 97.2), model='powerlaw'" in out
    assert "isig(key=(slice(94.5, 110.1),))" in out and "'tuple'" not in out and "'slice'" not in out


def test_run_errors_name_the_recipe_file_and_line_with_no_bar_before_the_run(velox_emd, tmp_path, capsys):
    """A recipe picking signal_type = "EELS" of a Velox file with three said "holds 3 signals; pick one with
    signal_type or index" (it was given), under an empty bar 'recipe ━━ 0/? 0:00:00'; an error during a step said
    'line 4 (isig): ...' without the file, where the recipe's check says '/path/r.toml:4: ...'."""
    (tmp_path / "st.toml").write_text(f'[input]\npath = "{velox_emd}"\nsignal_type = "EELS"\n\n[[step]]\nop = "sum"\n')
    code, out, err = run(capsys, "run", str(tmp_path / "st.toml"), "-o", str(tmp_path / "out"))
    assert code == 2 and out == "", out
    assert err.strip() == (f"emscale: error: {velox_emd} holds 3 signals of type 'EELS' (14: 'EELS (800 to 1146 eV)' "
                           "EELS (20, 16|2048); 15: 'EELS (480 to 826.4 eV)' EELS (20, 16|2048); 16: 'EELS (-21.5 to "
                           "324.8 eV)' EELS (20, 16|2048)); pick one with index in [input]")
    em.Signal(np.ones((2, 3, 8))).save(tmp_path / "x.zarr")
    (tmp_path / "r.toml").write_text('[input]\npath = "x.zarr"\n\n[[step]]\nop = "isig"\nkey = "0:9.5"\n')
    code, out, err = run(capsys, "run", str(tmp_path / "r.toml"), "-o", str(tmp_path / "out"))
    assert code == 2 and err.startswith(f"emscale: error: {(tmp_path / 'r.toml').resolve()}:4 (isig): "), err
    # a recipe's unknown table or key was accepted and ignored
    (tmp_path / "v.toml").write_text('[recipe]\nversion = 99\n\n[input]\npath = "x.zarr"\n\n[[step]]\nop = "sum"\n')
    code, out, err = run(capsys, "run", str(tmp_path / "v.toml"), "-o", str(tmp_path / "out"))
    assert code == 2 and out == "" and "v.toml:1: unknown top-level table or key 'recipe'; a recipe holds only " \
                                       "[input], [[step]] and [output]" in err, err
    assert not (tmp_path / "out").exists()


def _default_sigint():
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("sig, surfaced, code, said", [
    ("SIGTERM", "", 143, "emscale: terminated (SIGTERM)"),
    ("SIGINT", "", 130, "emscale: interrupted (SIGINT)"),
    ("SIGTERM", "SystemError('CPUDispatcher(<function _sweep_dense4>) returned a result with an exception set')",
     143, "emscale: terminated (SIGTERM)"),
])
def test_a_signal_during_convert_removes_the_temporary_store_and_is_reported_as_itself(tmp_path, sig, surfaced,
                                                                                       code, said):
    """SIGTERM (a timeout, SLURM) ended a conversion at once and left its hidden temporary store (156 MB of a real
    one) beside the output; Ctrl-C left nothing, but exited 130 with nothing said (typer turns the KeyboardInterrupt
    into an exit code); SIGTERM inside a numba kernel (NMF) surfaced as a SystemError and said "emscale: error:
    SystemError: CPUDispatcher(...) returned a result with an exception set", exit 1. The signal is sent at the
    first partition written."""
    em.Signal(np.arange(40 * 8 * 64, dtype=np.uint16).reshape(40, 8, 64)).save(tmp_path / "in.zarr")
    script = (
        "import os, signal, sys\n"
        "from emscale.engine.progress import ProgressBar\n"
        "def at_first_partition(self, done, total):\n"
        "    try:\n"
        f"        os.kill(os.getpid(), signal.{sig})\n"
        "    except BaseException:\n"
        f"        {'raise ' + surfaced if surfaced else 'raise'}\n"
        "ProgressBar.__call__ = at_first_partition\n"
        "from emscale.cli import main\n"
        "sys.exit(main(['convert', 'in.zarr', 'out.zarr', '--chunks', '4,8,64']))\n")
    # Ctrl-C as a terminal sends it, whatever this run inherited: a shell's background job (`pytest ... &`) ignores
    # SIGINT, and so do its children, where emscale rightly leaves it ignored (the run went on and exited 0)
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          preexec_fn=_default_sigint)
    assert (proc.returncode, proc.stderr.strip().splitlines()[-1:]) == (code, [said]), proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.zarr"]


def test_convert_keeps_stdout_for_its_result_and_shows_no_bar_before_the_input_is_read(tmp_path):
    """The bar went to stdout, piped or not ("convert empty.dm4 ━━━ 0/? bytes ?" in the redirected output of a
    conversion that failed at once), and was drawn before the input was checked."""
    em.Signal(np.arange(40 * 8 * 64, dtype=np.uint16).reshape(40, 8, 64)).save(tmp_path / "in.zarr")
    (tmp_path / "empty.dm4").write_bytes(b"")
    cmd = [sys.executable, "-m", "emscale", "convert"]
    proc = subprocess.run([*cmd, "in.zarr", "out.zarr"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.startswith("wrote out.zarr (") and proc.stdout.count("\n") == 1
    assert "convert in.zarr" in proc.stderr and "/s " in proc.stderr, proc.stderr
    proc = subprocess.run([*cmd, "empty.dm4", "x.zarr"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == "emscale: error: empty.dm4: the file is empty\n", proc.stderr


def test_verify_checks_a_results_content_digest(tmp_path, capsys):
    """`emscale verify d.npz` of a saved result (which carries a content digest since result version 2) said "not an
    emscale zarr store ... `emscale convert` makes a store of it", exit 2."""
    s = em.Signal(np.random.default_rng(0).poisson(5.0, (6, 5, 32)).astype(np.float32))
    p = s.decompose("pca", n_components=2).save(tmp_path / "d.npz")
    code, out, err = run(capsys, "verify", str(p))
    digest = json.loads(bytes(np.load(p)["meta"]))["sha256"]
    assert (code, err) == (0, ""), err
    assert out == (f"{p}: OK, an emscale result (emscale-decomposition): its {len(np.load(p).files) - 1} arrays and "
                   f"description match the content digest recorded when it was saved (sha256 {digest[:12]}...)\n")
    with np.load(p) as z:
        members = {k: z[k] for k in z.files}
    np.savez(tmp_path / "edited.npz", **members | {"factors": members["factors"] + 1})
    code, out, err = run(capsys, "verify", str(tmp_path / "edited.npz"))
    assert code == 2 and "no longer match the digest recorded when it was saved: edited or damaged" in err, err


def test_info_shows_what_loading_warned_of(tmp_path, capsys):
    """`emscale info` silenced every load warning: a file whose axes share a name showed the renamed axes without
    saying why. A store's missing checksum table is said on its "data:" line, not twice."""
    from rsciio.hspy import file_writer

    path = tmp_path / "same.hspy"
    axes = [{"name": "E", "size": 2, "navigate": True}, {"name": "E", "size": 4, "navigate": False, "units": "eV"}]
    file_writer(str(path), {"data": np.arange(8.0).reshape(2, 4), "axes": axes, "metadata": {"General": {"title": "t"}},
                            "original_metadata": {}, "attributes": {"_lazy": False}, "tmp_parameters": {},
                            "package_info": {"name": "test", "version": "0"}, "learning_results": {}, "models": {}})
    code, out, err = run(capsys, "info", str(path))
    assert code == 0 and "axis 1: E_2" in out, (out, err)
    assert out.rstrip().endswith(f"note: {path}: axes share a name, which emscale's axes may not (they are picked by "
                                 "name); renamed 'E' (signal, size 4) as 'E_2'"), out
    store = tmp_path / "x.zarr"
    em.Signal(np.arange(24.0).reshape(2, 3, 4)).save(store)
    code, out, err = run(capsys, "info", str(store))
    assert code == 0 and "note:" not in out, out


def test_info_does_not_hash_the_file(tmp_path, capsys, monkeypatch):
    """`emscale info` said "data: not read" but read the whole file for its SHA-256 (2.2 s of 5.7 s for a 1.3 GB
    .hspy): the digest goes into a history, and info records none. em.load still records it."""
    import emscale.core.history as history

    path = tmp_path / "x.zarr"
    em.Signal(np.arange(24.0).reshape(2, 3, 4)).save(path)
    hashed = []
    real = history.file_digest
    monkeypatch.setattr(history, "file_digest", lambda p: hashed.append(p) or real(p))
    code, out, err = run(capsys, "info", str(path))
    assert code == 0 and "(3, 2|4) float64" in out and hashed == [], (out, err, hashed)
    assert em.load(path).history[0]["source"]["sha256"] and hashed == [path]


def test_run_counts_its_steps_in_words(tmp_path, capsys):
    """It said "(1 steps, report ...)"."""
    em.Signal(np.ones((2, 3, 8))).save(tmp_path / "x.zarr")
    (tmp_path / "r.toml").write_text('[input]\npath = "x.zarr"\n\n[[step]]\nop = "sum"\n')
    code, out, err = run(capsys, "run", str(tmp_path / "r.toml"), "-o", str(tmp_path / "out"))
    assert code == 0 and f"wrote {tmp_path / 'out'} (1 step, report " in out, (out, err)


def test_verify_info_and_history_call_a_damaged_result_one(tmp_path, capsys):
    """A result whose description member was damaged (one byte) was no result to `emscale verify`, which said "not
    an emscale zarr store ... `emscale convert` makes a store of it"; one damaged elsewhere got "BadZipFile: Bad
    CRC-32 for file 'factors.npy'", exit 1 (a review)."""
    import zipfile

    s = em.Signal(np.random.default_rng(0).poisson(5.0, (6, 5, 32)).astype(np.float32))
    p = s.decompose("pca", n_components=2).save(tmp_path / "d.npz")
    intact = p.read_bytes()
    with zipfile.ZipFile(p) as z:
        meta, factors = (z.getinfo(n).header_offset for n in ("meta.npy", "factors.npy"))
    for offset in (meta + 1000, factors + 200):
        raw = bytearray(intact)
        raw[offset] ^= 0x55
        p.write_bytes(raw)
        for command in ("verify", "info", "history"):
            code, out, err = run(capsys, command, str(p))
            assert (code, out, err.count("\n")) == (2, "", 1), (command, err)
            assert err.startswith(f"emscale: error: {p}: a damaged or truncated emscale result ("), (command, err)
