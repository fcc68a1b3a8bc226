"""The classic EELS workflow in five lines, on a generated Si/SiO2/Si spectrum image.

    python examples/classic_eels_workflow.py profile.png

It writes a synthetic spectrum image (emscale.samples.eels_si) to a temporary ``.zarr`` store, then runs
the five lines a microscopist would type on a real file: load -> remove the pre-edge power-law background
-> crop the rows and the Si L2,3 edge region -> integrate over y and energy -> plot the edge-intensity
profile along x.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import emscale as em
from emscale import samples


def main(argv=None) -> Path:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("png", nargs="?", default="classic_eels_workflow.png", help="output figure (PNG/SVG/PDF)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dose", type=float, default=1000.0, help="background counts per channel at 100 eV")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        cube, _truth = samples.eels_si(seed=args.seed, dose=args.dose)
        path = Path(tmp) / "si_sio2.zarr"
        cube.save(path)

        # --- the five lines --------------------------------------------------------------------------------
        s = em.load(path)
        s = s.remove_background(signal_range=(70.2, 97.2))
        s = s.inav[:, 12:62].isig[94.5:110.1]
        profile = s.sum(axis=(1, -1))
        fig = profile.plot(title="Si L2,3 edge intensity (94.5-110.1 eV) along x")
        # --------------------------------------------------------------------------------------------------

    out = Path(args.png)
    fig.savefig(out, dpi=120)
    print(f"{profile!r}\nhistory: {[e['op'] for e in profile.history]}\nwrote {out}")
    return out


if __name__ == "__main__":
    main()
