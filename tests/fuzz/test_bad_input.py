"""Generated bad input: malformed specs, npz files, image folders and command lines.

Whatever is generated, priorworks either accepts it or refuses it with its own error (exit 2 on
the command line), within a time bound, and leaves any store it touched readable with no run
left RUNNING. Never a traceback."""

from __future__ import annotations

import io
import shutil
import string
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from mlflow.tracking import MlflowClient
from PIL import Image

import mlflow
from genmodels.data import load_dataset
from genmodels.data.spec import DataSpec, load_splits
from genmodels.errors import PriorworksError
from genmodels.registry import get_model_class
from genmodels.training import TrainConfig, fit_model
from pipelines.cli import main
from pipelines.spec.loading import load_spec
from pipelines.spec.pipeline import PipelineSpec
from pipelines.tracking.model_export import log_detector
from pipelines.tracking.store import setup_experiment
from tasks.anomaly.detector import Detector
from tasks.anomaly.scores import make_score, score_images
from tasks.anomaly.threshold import ConformalThreshold

SECONDS = 20.0  # the most one generated case may take: refusing is quick


def _bounded(started: float) -> None:
    elapsed = time.perf_counter() - started
    assert elapsed < SECONDS, f"a generated case took {elapsed:.1f} s (bound {SECONDS} s)"


# --- specs -----------------------------------------------------------------------------------

SECTIONS = ["name", "seed", "data", "model", "train", "task", "output", "presets"]
KEYS = [
    *SECTIONS,
    *("params", "max_epochs", "batch_size", "patience", "lr", "normal_classes", "score"),
    *("scores", "select_by", "path", "image_size", "experiment", "registered_model"),
]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["anomaly", "augment", "realnvp", "digits", "npz", "../x", "a/b", ""]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), inner, max_size=4),
    ),
    max_leaves=12,
)
trees = st.dictionaries(st.sampled_from(SECTIONS) | st.text(max_size=6), values, max_size=6)
overrides = st.lists(
    st.one_of(
        st.builds(
            lambda k, v: f"{k}={v}",
            st.sampled_from(["train.max_epochs", "task.score", "model.params.lr", "seed", "data"]),
            st.text(string.printable, max_size=8),
        ),
        st.text(max_size=16),
    ),
    max_size=3,
)


def _spec_file(folder: str, text: str) -> Path:
    path = Path(folder) / "spec.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    return path


def _loads_or_refuses(path: Path, sets: list[str]) -> None:
    started = time.perf_counter()
    try:
        spec = load_spec(path, sets)
    except PriorworksError:
        pass
    else:
        assert isinstance(spec, PipelineSpec)
    _bounded(started)


@given(tree=trees, sets=overrides)
def test_generated_spec_trees_load_or_are_refused_by_name(tree: dict, sets: list[str]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        _loads_or_refuses(_spec_file(folder, yaml.safe_dump(tree)), sets)


@given(
    text=st.text(max_size=200)
    | st.builds(
        lambda a, b: a + b,
        st.sampled_from(["name: x\n", "train:\n  max_epochs: 2\n", "task: {name: anomaly}\n"]),
        st.text(string.printable, max_size=80),
    )
)
def test_generated_spec_text_loads_or_is_refused_by_name(text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        _loads_or_refuses(_spec_file(folder, text), [])


# --- npz files -------------------------------------------------------------------------------

NPZ_KEYS = ["train_images", "train_labels", "val_images", "test_images", "test_labels", "x"]
DTYPES = [np.uint8, np.uint16, np.int64, np.float32, np.float64, np.bool_, np.complex64]
arrays = st.sampled_from(DTYPES).flatmap(
    lambda dtype: hnp.arrays(
        dtype, hnp.array_shapes(min_dims=0, max_dims=5, min_side=0, max_side=6)
    )
) | st.just(np.array(["a", "b"]))


@given(content=st.dictionaries(st.sampled_from(NPZ_KEYS), arrays, max_size=5))
def test_generated_npz_files_load_or_are_refused_by_name(content: dict[str, np.ndarray]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "data.npz"
        np.savez(path, **content)
        started = time.perf_counter()
        try:
            splits = load_splits(DataSpec(name="npz", path=str(path)))
        except PriorworksError:
            pass
        else:  # what loads is usable: finite pixels in [0, 1], labels for every image
            for images in splits.values():
                pixels = images.images
                assert bool(((pixels >= 0) & (pixels <= 1)).all())
                assert images.labels is None or len(images.labels) == len(pixels)
        _bounded(started)


# --- image folders ---------------------------------------------------------------------------


def _png(mode: str, size: tuple[int, int], seed: int) -> bytes:
    """A PNG of random pixels in ``mode``, ``size`` (width, height)."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).convert(mode).save(buffer, format="PNG")
    return buffer.getvalue()


files = st.one_of(
    st.builds(
        _png,
        st.sampled_from(["L", "RGB", "RGBA", "I;16", "P", "1"]),
        st.tuples(st.integers(1, 12), st.integers(1, 12)),
        st.integers(0, 100),
    ),
    st.binary(max_size=64),  # not an image at all
    st.builds(lambda b: _png("L", (8, 8), 0)[: max(1, b)], st.integers(0, 60)),  # truncated
)
entries = st.lists(
    st.tuples(
        st.sampled_from(["", "a", "b", "a/deeper"]), st.sampled_from([".png", ".txt"]), files
    ),
    max_size=6,
)


@given(entries=entries)
def test_generated_image_folders_load_or_are_refused_by_name(entries: list[tuple]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "images"
        root.mkdir()
        for i, (sub, suffix, content) in enumerate(entries):
            (root / sub).mkdir(parents=True, exist_ok=True)
            (root / sub / f"{i}{suffix}").write_bytes(content)
        started = time.perf_counter()
        try:
            splits = load_dataset("folder", root)
        except PriorworksError:
            pass
        else:
            images = splits["all"].images
            assert len(images) >= 1 and bool(((images >= 0) & (images <= 1)).all())
        _bounded(started)


# --- command lines ---------------------------------------------------------------------------

BAD_SETS = [  # never a valid override, so no generated command line trains
    "zz.unknown=1", "train.max_epochs=-1", "train.max_epochs=abc", "model.name=nope",
    "task.score=nope", "data.name=nope", "model.params.lr=-1", "seed", "=", "train=[",
    "task.normal_classes=[-1]", "name=a/b",
]  # fmt: skip
FLOATS = ["0", "1", "-0.5", "1.5", "nan", "inf", "abc", "1e-300"]
command_lines = st.one_of(
    st.builds(
        lambda spec, bad, more: ["run", spec, "--set", bad, *more],
        st.sampled_from(["anomaly-detect", "augment", "share", "nope", "missing.yaml", ""]),
        st.sampled_from(BAD_SETS),
        st.lists(
            st.sampled_from(["--preset", "tiny", "--preset", "nope", "--retrain"]), max_size=3
        ),
    ),
    st.builds(
        lambda model, source, extra: ["score", "--model", model, "--input", source, *extra],
        st.sampled_from(["LOGGED", "LOGGED", "runs:/0123/model", "models:/x@champion", "abc", ""]),
        st.sampled_from(
            [
                *("ok.npz", "wrong-size.npz", "empty.npz", "ok.png", "wrong-size.png"),
                *("garbage.png", "missing.npz", ".", "folder"),
            ]
        ),
        st.lists(
            st.sampled_from(
                ["--batch-size", "--target-fpr", "--threshold", "--out", "--maps"]
            ).flatmap(
                lambda flag: st.tuples(
                    st.just(flag), st.sampled_from([*FLOATS, "x.csv", "folder", "new-maps"])
                )
            ),
            max_size=2,
        ).map(lambda pairs: [token for pair in pairs for token in pair]),
    ),
    st.builds(
        lambda name, extra: ["compare", name, *extra],
        st.text(max_size=10),
        st.lists(st.sampled_from(["--limit", "-3", "--sort", "nope", "--metric", "[", "--wide"])),
    ),
    st.lists(st.text(max_size=10), max_size=4),  # anything at all
)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mlflow_store: str, tiny_images):
    """A working folder with the files the command lines name, and a store holding one logged
    detector (a GMM on 4x4 images): (store URI, the detector's model URI)."""
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "ok.npz", test_images=rng.random((5, 1, 4, 4)).astype(np.float32))
    np.savez(tmp_path / "wrong-size.npz", test_images=rng.random((5, 1, 8, 8)))
    (tmp_path / "empty.npz").write_bytes(b"")
    (tmp_path / "ok.png").write_bytes(_png("L", (4, 4), 0))
    (tmp_path / "wrong-size.png").write_bytes(_png("RGB", (9, 7), 1))
    (tmp_path / "garbage.png").write_bytes(b"\x89PNG not really")
    (tmp_path / "folder").mkdir()
    model = get_model_class("gmm")(tiny_images.image_shape, tiny_images.levels, n_components=2)
    fit_model(model, tiny_images, tiny_images, TrainConfig(max_epochs=1, batch_size=20))
    threshold = ConformalThreshold.fit(score_images(model, tiny_images.images, "bpd"), 0.1)
    _, experiment_id = setup_experiment("anomaly-detect")
    with mlflow.start_run(experiment_id=experiment_id) as run:
        log_detector(Detector(model, make_score("bpd"), threshold))
    return mlflow_store, f"runs:/{run.info.run_id}/model"


def _exit_code(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as stop:  # argparse refuses a malformed command line with 2
        return int(stop.code or 0)


@given(argv=command_lines)
def test_generated_command_lines_end_with_exit_0_or_2_and_a_sound_store(
    workdir: tuple[str, str], argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    store, logged = workdir
    argv = [logged if token == "LOGGED" else token for token in argv]
    before = set(Path.cwd().iterdir())
    started = time.perf_counter()
    code = _exit_code(argv)
    _bounded(started)
    for written in set(Path.cwd().iterdir()) - before:  # each case starts from the same files
        shutil.rmtree(written) if written.is_dir() else written.unlink()
    err = capsys.readouterr().err
    assert code in (0, 2), f"{argv}: exit {code}"
    assert "Traceback" not in err, f"{argv}: {err}"
    if code == 2 and argv and argv[0] in ("run", "score", "compare"):
        assert err.strip(), f"{argv}: refused without a message"
    client = MlflowClient(store)
    experiments = client.search_experiments()
    running = client.search_runs(
        [e.experiment_id for e in experiments], filter_string="attributes.status = 'RUNNING'"
    )
    assert not running, f"{argv}: left {len(running)} run(s) RUNNING"
