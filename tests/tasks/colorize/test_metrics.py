import torch

from tasks.colorize.metrics import colourfulness, consistency_error, diversity, psnr, ssim


def test_psnr_of_a_known_error():
    truth = torch.full((2, 3, 4, 4), 0.5)
    assert torch.allclose(psnr(truth + 0.1, truth), torch.tensor([20.0, 20.0]), atol=1e-4)
    assert psnr(truth, truth)[0] == 100.0  # capped


def test_ssim_is_one_for_identical_images_and_lower_otherwise():
    x = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(ssim(x, x), torch.ones(2, dtype=torch.float64))
    assert (ssim(x.flip(-1), x) < 0.9).all()


def test_colourfulness_is_zero_for_gray_and_grows_with_saturation():
    gray = torch.rand(1, 1, 8, 8).expand(1, 3, 8, 8)
    assert colourfulness(gray).item() < 1e-9
    pale = torch.tensor([0.6, 0.5, 0.5]).view(1, 3, 1, 1).expand(1, 3, 8, 8)
    vivid = torch.tensor([1.0, 0.2, 0.1]).view(1, 3, 1, 1).expand(1, 3, 8, 8)
    assert 0 < colourfulness(pale).item() < colourfulness(vivid).item()


def test_consistency_and_diversity():
    rgb = torch.full((1, 3, 2, 2), 0.4)
    assert consistency_error(rgb, torch.full((1, 1, 2, 2), 0.4)).item() < 1e-7
    assert abs(consistency_error(rgb, torch.full((1, 1, 2, 2), 0.5)).item() - 0.1) < 1e-6
    same = torch.stack([rgb, rgb, rgb])
    assert diversity(same).item() == 0.0
    apart = torch.stack([rgb, rgb + 0.2])
    assert abs(diversity(apart).item() - 0.2) < 1e-6
