"""Benchmark: EDS line maps of a lazily read vendor file, emscale line_maps vs exspy get_lines_intensity.

    python benchmarks/bench_eds_lines.py            # the real Velox EDS cube (128 x 128 x 4096), 3 runs each

The regime: a reader whose chunks span every pixel and split the channels (RosettaSciIO's lazy Velox EDS cube is
chunked 128 x 128 x 1024, each chunk decoded from the event stream whole). A pass whose partitions read parts of such
a chunk decoded it once per partition (eight times); emscale now reads it once for the partitions inside it. Both
tools integrate the same windows (exspy's default call: 2 FWHM, no background) over the lines of the file's elements.
The file is ``velox_EELS_EDS.zip`` in the shared real data (``EMSCALE_REAL_DATA``, default ``../shared/data/real``);
without it the benchmark says so and writes no row. Timed: the line maps alone, after a lazy load, in a fresh process
per run (alternating). ``--json PATH`` writes the row in the common schema.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402

REAL = Path(os.environ.get("EMSCALE_REAL_DATA", harness.REPO.parent / "shared" / "data" / "real"))
INDEX = 17  # the EDS spectrum image among the file's signals

EMSCALE = """
import numpy as np, emscale as em
from emscale.spectroscopy import eds
s = em.load({path!r}, index={index}, lazy=True)
t0 = time.perf_counter()
m = eds.line_maps(s, width=2.0, background_windows=False).to_numpy()
report(seconds=time.perf_counter() - t0, total=float(m.sum()), n=int(m.shape[0]))
"""

EXSPY = """
import numpy as np, hyperspy.api as hs
h = [x for x in hs.load({path!r}, lazy=True) if x.axes_manager.navigation_dimension == 2
     and x.metadata.Signal.signal_type == "EDS_TEM"][0]
t0 = time.perf_counter()
maps = [x.compute(show_progressbar=False) or x for x in h.get_lines_intensity(show_progressbar=False)]
report(seconds=time.perf_counter() - t0, total=float(sum(np.asarray(x.data).sum() for x in maps)), n=len(maps))
"""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    harness.add_common_args(ap, repeat=3)
    args = ap.parse_args(argv)
    archive = REAL / "velox_EELS_EDS.zip"
    if not archive.is_file():
        print(f"{archive} not found (set EMSCALE_REAL_DATA): no row", file=sys.stderr)
        harness.write_json(args.json, [])
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        with zipfile.ZipFile(archive) as z:
            z.extractall(tmp)
        path = str(next(Path(tmp).glob("*.emd")))
        res = harness.run_alternating({"emscale": EMSCALE.format(path=path, index=INDEX),
                                       "exspy": EXSPY.format(path=path)}, repeat=args.repeat, timeout=600)
    em, peer = res["emscale"], res["exspy"]
    same = ""
    if "result" in em and "result" in peer:
        same = f"map totals {em['result'].get('total'):.6g} / {peer['result'].get('total'):.6g}"
    rows = [harness.row("EDS line maps, lazy vendor file (chunks across every pixel)",
                        "Velox EDS 128x128x4096 uint16, chunks 128x128x1024", em,
                        "exspy get_lines_intensity (lazy, computed)", peer, accuracy=same,
                        bytes_processed=128 * 128 * 4096 * 2)]
    harness.print_table(rows, "EDS line maps of a lazy vendor file")
    harness.write_json(args.json, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
