#!/usr/bin/env bash
# Build the documentation site into docs/_build/html: every notebook executed, warnings as errors, offline.
# This is what CI runs. Needs: pip install -r docs/requirements.txt (and emscale itself, e.g. pip install -e .).
#
#   docs/build.sh            # full build from scratch
set -euo pipefail
DOCS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$DOCS")"
export PYTHONPATH="$ROOT/src${PYTHONPATH:+:$PYTHONPATH}"
# The notebooks' matrices are small: BLAS threads buy nothing there and, on a shared CI runner, oversubscribe the
# cores (measured: a 512x512 eigh took 4 s with the default threads on a loaded 2-core machine, 0.05 s with one).
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}" \
       MKL_NUM_THREADS="${MKL_NUM_THREADS:-1}"
rm -rf "$DOCS/_build" "$DOCS/api/generated"
# The tutorials write their stores under tempfile's folder, as a reader's session would; a build runs them all
# (four folders, up to 6 MB each) and would leave every one behind, so they get a folder of their own, removed on exit.
TMPDIR="$(mktemp -d "${TMPDIR:-/tmp}/emscale-docs-build-XXXXXX")"
export TMPDIR
trap 'rm -rf "$TMPDIR"' EXIT
# -W --keep-going: every warning is reported and fails the build; -n: nitpicky off (cross-references to numpy and
# other projects would need intersphinx, i.e. the network).
python3 -m sphinx -b html -W --keep-going -j 1 "$DOCS" "$DOCS/_build/html"
echo "built: $DOCS/_build/html/index.html"
