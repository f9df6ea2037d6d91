import pytest
import pytorch_lightning as pl
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


class _CrashAt(pl.Callback):
    """A crash (an OOM kill, a lost node) at the start of an epoch, after its checkpoint."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_train_epoch_start(self, trainer, module):
        if trainer.current_epoch == self.epoch:
            raise RuntimeError("crash")


@pytest.mark.parametrize("name", ["realnvp", "vae", "pixelcnn", "dcgan", "ddpm"])
def test_a_resumed_training_ends_where_an_uninterrupted_one_does(name, tiny_images, tmp_path):
    """Every family's training (automatic and manual optimization, dequantization noise, latent
    and timestep draws) resumed from its checkpoint gives the uninterrupted run's weights."""
    from zoo_params import tiny_params

    from genmodels.registry import get_model_class
    from genmodels.training import seed_all

    cls = get_model_class(name)
    config = TrainConfig(max_epochs=4, batch_size=16, patience=0)

    def fresh():
        seed_all(0)
        return cls(tiny_images.image_shape, tiny_images.levels, **tiny_params(cls))

    straight = fit_model(fresh(), tiny_images, tiny_images, config, seed=3)
    with pytest.raises(RuntimeError, match="crash"):
        fit_model(fresh(), tiny_images, tiny_images, config, 3, None, tmp_path, [_CrashAt(2)])
    assert (tmp_path / "last.ckpt").is_file()
    resumed = fit_model(fresh(), tiny_images, tiny_images, config, seed=3, checkpoint_dir=tmp_path)
    assert resumed.epochs == straight.epochs == 4
    assert resumed.best_score == straight.best_score
    for (key, a), b in zip(
        straight.model.state_dict().items(), resumed.model.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), key
