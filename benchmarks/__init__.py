"""emscale benchmarks against the peers (HyperSpy/exspy, scikit-learn); run ``python3 -m benchmarks``."""
