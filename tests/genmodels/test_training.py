import pytest
import torch

from genmodels.contract import GenerativeModel, Likelihood
from genmodels.training import TrainConfig, TrainingDivergedError, fit_model


class _Exploding(GenerativeModel):
    """Loss turns NaN on the second step."""

    name = "test-exploding"
    likelihood = Likelihood.NONE

    def __init__(self, image_shape=(1, 4, 4), levels=17, nan_from=2):
        super().__init__(image_shape, levels)
        self.w = torch.nn.Parameter(torch.ones(1))
        self.steps, self.nan_from = 0, nan_from

    def training_step(self, batch, batch_idx):
        self.steps += 1
        loss = (self.w * batch[0].mean()) ** 2
        return loss * float("nan") if self.steps >= self.nan_from else loss

    def validation_step(self, batch, batch_idx):
        self.log("val_bpd", (self.w * batch[0].mean()).detach().abs())

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_nan_loss_stops_training_with_a_clear_error(tiny_images):
    with pytest.raises(TrainingDivergedError, match="training loss became nan at epoch 0, batch 1"):
        fit_model(
            _Exploding(),
            tiny_images,
            tiny_images,
            TrainConfig(max_epochs=3, batch_size=10, gradient_clip=None),
        )


def test_divergence_keeps_the_last_good_checkpoint(tiny_images, tmp_path):
    # 40 images, batches of 10: 4 steps an epoch; the 10th step (epoch 2, batch 1) is NaN
    with pytest.raises(TrainingDivergedError, match="at epoch 2, batch 1"):
        fit_model(
            _Exploding(nan_from=10),
            tiny_images,
            tiny_images,
            TrainConfig(max_epochs=5, batch_size=10, gradient_clip=None),
            checkpoint_dir=tmp_path,
        )
    last = torch.load(tmp_path / "last.ckpt", weights_only=False)
    assert last["epoch"] == 1  # the last epoch that finished cleanly
    assert torch.isfinite(last["state_dict"]["w"]).all()


def test_best_validation_weights_are_restored(tiny_images):
    from genmodels.flow.module import RealNVP

    torch.manual_seed(0)
    m = RealNVP((1, 4, 4), levels=17, num_scales=2, hidden_channels=8, num_blocks=1, lr=3e-3)
    result = fit_model(
        m, tiny_images, tiny_images, TrainConfig(max_epochs=6, batch_size=20, patience=0)
    )
    assert result.epochs == 6
    val = m.bits_per_dim(tiny_images.images).mean().item()
    assert val == pytest.approx(result.best_score, rel=1e-4)
    assert not m.training
