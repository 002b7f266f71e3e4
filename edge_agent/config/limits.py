"""Ceilings the config's numbers share with the command line's (``--fps``, ``--threads``): constants only, so
that a command's parser can name them without importing the config models, and pydantic and NumPy with them,
for every ``edge-agent --help``."""

MAX_FPS = 60.0  # camera.fps; also the ceiling of demo --fps and of a replay file's fps
#: onnxruntime intra-op threads: a ceiling for the key and every --threads (100000 hung recognize)
MAX_THREADS = 64
