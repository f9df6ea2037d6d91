"""`priorworks colorize`: a user's own images, of any size, with a conditional-flow file."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from genmodels.data.imageset import LUMA
from pipelines.cli import main
from tasks.colorize.chroma_flow import ChromaFlowModule, ConditionalSpec, save_conditional
from tasks.colorize.chroma_pixelcnn import ChromaPixelCNNModule, PixelCNNSpec, pixelcnn_bytes

SMALL = ConditionalSpec(
    hidden_channels=4, context_channels=4, num_blocks=1, couplings_per_scale=1, residual=False
)


@pytest.fixture
def flow_file(tmp_path):
    torch.manual_seed(0)
    return save_conditional(ChromaFlowModule((8, 8), SMALL), tmp_path / "flow.pt")


@pytest.fixture
def photos(tmp_path):
    folder = tmp_path / "photos"
    (folder / "trip").mkdir(parents=True)
    rng = np.random.default_rng(0)
    colour = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)  # odd sides: padding is needed
    Image.fromarray(colour).save(folder / "trip" / "beach.png")
    gray = rng.integers(0, 256, (70, 24), dtype=np.uint8)
    Image.fromarray(gray).save(folder / "old.jpg", quality=95)
    return folder


def _luma(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float64) @ np.asarray(LUMA)


def _run(flow, inputs, out, *extra):
    return main(
        ["colorize", "--model", str(flow), "--input", str(inputs), "--out", str(out), *extra]
    )


@pytest.mark.parametrize("chroma_side", ["16", "0"])
def test_every_image_gets_an_estimate_samples_and_an_uncertainty_map_with_its_luma(
    flow_file, photos, tmp_path, capsys, chroma_side
):
    out = tmp_path / "colored"
    assert _run(flow_file, photos, out, "--samples", "3", "--chroma-side", chroma_side) == 0
    printed = capsys.readouterr().out
    assert "colorized 2 image(s)" in printed and "1 input(s) had colour" in printed
    beach_in = np.asarray(Image.open(photos / "trip" / "beach.png"))
    old_in = np.asarray(Image.open(photos / "old.jpg"))
    for name, source in (("trip/beach", _luma(beach_in)), ("old", old_in.astype(np.float64))):
        estimate = np.asarray(Image.open(out / f"{name}.png"))
        assert estimate.shape == (*source.shape, 3)
        # the luma is the input's: exact before the file's 8-bit rounding (half a level per
        # channel, so at most half a level of luma), and the 8-bit gray input itself is rounded
        assert np.abs(_luma(estimate) - source).max() <= 1.0
        assert np.asarray(Image.open(out / f"{name}_uncertainty.png")).shape == source.shape
        draws = [np.asarray(Image.open(out / f"{name}_sample{i}.png")) for i in (1, 2, 3)]
        assert all(np.abs(_luma(d) - source).max() <= 1.0 for d in draws)
        assert not np.array_equal(draws[0], draws[1])  # independent draws
        assert not (out / f"{name}_sample4.png").exists()
    table = pd.read_csv(out / "colorized.csv").set_index("file")
    assert set(table.index) == {"trip/beach.png", "old.jpg"}
    beach = table.loc["trip/beach.png"]
    assert (beach["height"], beach["width"]) == (37, 53)
    expected = (11, 16) if chroma_side == "16" else (37, 53)
    assert (beach["work_height"], beach["work_width"]) == expected
    # the colour input is measured against its own colours; the gray one cannot be
    truth = beach_in.astype(np.float64) / 255
    gray = np.repeat(
        np.asarray(Image.open(photos / "trip" / "beach.png").convert("L"))[..., None], 3, 2
    )
    estimate = np.asarray(Image.open(out / "trip/beach.png")).astype(np.float64) / 255
    by_hand = 10 * np.log10(1 / ((estimate - truth) ** 2).mean())
    assert beach["psnr"] == pytest.approx(by_hand, abs=0.1)  # the file is rounded to 8 bits
    assert beach["psnr_gray"] == pytest.approx(
        10 * np.log10(1 / ((gray / 255 - truth) ** 2).mean()), abs=0.2
    )
    assert np.isnan(table.loc["old.jpg", "psnr"])


def test_the_same_seed_gives_the_same_colours(flow_file, photos, tmp_path):
    assert _run(flow_file, photos, tmp_path / "a", "--seed", "3") == 0
    assert _run(flow_file, photos, tmp_path / "b", "--seed", "3") == 0
    assert _run(flow_file, photos, tmp_path / "c", "--seed", "4") == 0
    read = lambda d: np.asarray(Image.open(tmp_path / d / "old.png"))  # noqa: E731
    assert np.array_equal(read("a"), read("b")) and not np.array_equal(read("a"), read("c"))


def test_bad_inputs_are_refused_by_name_and_leave_nothing(flow_file, photos, tmp_path, capsys):
    out = tmp_path / "colored"
    (photos / "broken.png").write_bytes(b"not a png")
    assert _run(flow_file, photos, out) == 2
    assert "broken.png: corrupt or unreadable image" in capsys.readouterr().err
    assert not out.exists() and [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    (photos / "broken.png").unlink()
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\0" * 10)
    assert _run(junk, photos, out) == 2
    assert "cannot be read" in capsys.readouterr().err
    assert _run("models:/colorizer@champion", photos, out) == 2
    assert "neither a conditional-flow file nor a colorize run" in capsys.readouterr().err
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert _run(flow_file, photos, out) == 2
    assert "--out folder is not empty" in capsys.readouterr().err
    assert (out / "keep.txt").read_text() == "mine"
    assert _run(flow_file, tmp_path / "nowhere", tmp_path / "new") == 2
    assert "no such file or folder" in capsys.readouterr().err
    assert _run(flow_file, photos, tmp_path / "new", "--chroma-side", "1") == 2
    assert "--chroma-side must be at least 2" in capsys.readouterr().err


def test_the_temperatures_recorded_with_the_flow_are_used_unless_overridden(photos, tmp_path):
    torch.manual_seed(0)
    flow = ChromaFlowModule((8, 8), SMALL)
    flow.temperature = flow.estimate_temperature = 0.0  # as a calibration could have recorded
    path = save_conditional(flow, tmp_path / "cold.pt")
    assert _run(path, photos, tmp_path / "recorded", "--samples", "2") == 0
    read = lambda d, i: np.asarray(Image.open(tmp_path / d / f"old_sample{i}.png"))  # noqa: E731
    assert np.array_equal(read("recorded", 1), read("recorded", 2))  # temperature 0: one colouring
    assert _run(path, photos, tmp_path / "warm", "--samples", "2", "--temperature", "1") == 0
    assert not np.array_equal(read("warm", 1), read("warm", 2))


def test_a_conditional_pixelcnn_file_colorizes_photos_keeping_their_luma(photos, tmp_path):
    """Odd-sized photos: the working size is padded to the PixelCNN's factor; every output keeps
    the input's luma; the temperatures recorded in the file are used unless overridden."""
    torch.manual_seed(0)
    config = PixelCNNSpec(codes=4, factor=4, hidden=4, num_blocks=1, context_channels=4)
    palette = torch.tensor([[0.2, -0.1], [-0.1, 0.2], [0.0, 0.0], [-0.15, -0.15]])
    module = ChromaPixelCNNModule(config, palette, torch.tensor([0.01, 0.01])).eval()
    path = tmp_path / "pixelcnn.pt"
    path.write_bytes(pixelcnn_bytes(module))
    out = tmp_path / "colored"
    assert _run(path, photos, out, "--samples", "2", "--chroma-side", "16") == 0
    beach_in = _luma(np.asarray(Image.open(photos / "trip" / "beach.png")))
    estimate = np.asarray(Image.open(out / "trip/beach.png"))
    assert estimate.shape == (37, 53, 3) and np.abs(_luma(estimate) - beach_in).max() <= 1.0
    draws = [np.asarray(Image.open(out / f"old_sample{i}.png")) for i in (1, 2)]
    assert not np.array_equal(draws[0], draws[1])  # temperature 1, as recorded
    assert _run(path, photos, tmp_path / "cold", "--samples", "2", "--temperature", "0") == 0
    cold = [np.asarray(Image.open(tmp_path / "cold" / f"old_sample{i}.png")) for i in (1, 2)]
    assert np.array_equal(cold[0], cold[1])
