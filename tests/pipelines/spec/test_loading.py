import re

import pytest

from pipelines.errors import SpecError
from pipelines.spec.loading import apply_overrides, load_spec, parse_override


def test_bundled_spec_loads_with_its_defaults():
    spec = load_spec("anomaly-detect")
    assert spec.name == "anomaly-detect"
    assert spec.data.name == "digits" and spec.model.name == "realnvp"
    assert spec.task.normal_classes == [8] and spec.task.target_fpr == 0.05


def test_overrides_are_parsed_as_yaml_and_applied():
    spec = load_spec(
        "anomaly-detect", ["train.max_epochs=3", "task.normal_classes=[1, 7]", "data.path=null"]
    )
    assert spec.train.max_epochs == 3
    assert spec.task.normal_classes == [1, 7]
    assert spec.data.path is None


def test_config_hash_changes_with_content_only():
    a, b = load_spec("anomaly-detect"), load_spec("anomaly-detect")
    assert a.config_hash() == b.config_hash()
    assert load_spec("anomaly-detect", ["seed=1"]).config_hash() != a.config_hash()


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("train.max_epoch=3", "train.max_epoch: unknown key; allowed keys here: max_epochs"),
        ("bogus=1", "bogus: unknown key; allowed keys here: name, seed, reuse, data"),
        ("task.score=entropy", "task.score: Input should be 'nll', 'bpd', 'complexity'"),
        ("task.score=likelihood-ratio", "needs a background model: set task.background"),
        (
            "task.score=background-typicality",
            "score 'background-typicality' needs a background model",
        ),
        ("task.score=layout-typicality", "needs a layout density: set task.layout"),
        ("task.scores=[layout]", "score 'layout' needs a layout density"),
        ("task.layout={image_size: [1, 7]}", "image_size must be two sizes >= 2, got [1, 7]"),
        (
            "task.select_by=test",
            "task.select_by: Input should be 'auto', 'score', 'validation', 'synthetic' or 'fixed'",
        ),
        (
            "task.background={mutation_rate: 0.0}",
            "unperturbed normal images is the model itself",
        ),
        ("task.background={data: {name: mnist}}", "unknown dataset 'mnist'"),
        (
            "task.background={params: {depth: 3}}",
            "task.background.params: unknown parameter(s) depth for model 'realnvp'",
        ),
        ("task.scores=[typicality, nope]", "task.scores.1: Input should be 'nll'"),
        ("data.name=mnist", "data.name: unknown dataset 'mnist'; valid datasets: cifar10, digits"),
        (
            "model.name=gan",
            "model.name: unknown model 'gan'; valid models: dcgan, dcgan-cond, ddpm",
        ),
        (
            "model.params.depth=3",
            "unknown parameter(s) depth for model 'realnvp'; allowed: num_scales",
        ),
        (
            "model.params.hidden_channels=many",
            "bad parameter value(s) for model 'realnvp': hidden_channels='many': Input should be "
            "a valid integer",
        ),
        (
            "model={name: dcgan, params: {loss: wgan}}",
            "loss='wgan': Input should be 'non-saturating' or 'wgan-gp'",
        ),
        ("task.name=paint", "unknown task 'paint'; valid tasks: anomaly, augment, colorize"),
        ("task.bogus=1", "task.bogus: unknown key; allowed keys here: name, normal_classes"),
        ("task.target_fpr=1.5", "task.target_fpr: Input should be less than 1"),
        ("task.baselines=[lof]", "task.baselines.0: Input should be 'kde'"),
        (
            "train.privacy={max_grad_norm: 1.0}",
            "give exactly one of noise_multiplier and target_epsilon",
        ),
        ("train.privacy={noise_multiplier: 0}", "train.privacy.noise_multiplier: Input should be"),
    ],
)
def test_bad_spec_names_key_and_allowed_values(override, expected):
    with pytest.raises(SpecError) as err:
        load_spec("anomaly-detect", [override])
    assert expected in str(err.value)


def test_train_privacy_becomes_the_dp_sgd_settings_of_the_fit():
    plain = load_spec("share").train.config()
    assert plain.privacy is None
    spec = load_spec("share", ["train.privacy={target_epsilon: 8.0, delta: 1.0e-5}"])
    config = spec.train.config(max_epochs=7)
    assert config.max_epochs == 7 and config.batch_size == spec.train.batch_size
    assert config.privacy is not None
    assert (config.privacy.target_epsilon, config.privacy.delta) == (8.0, 1e-5)
    assert config.privacy.noise_multiplier is None and config.privacy.max_grad_norm == 1.0


def test_unknown_spec_lists_bundled_specs():
    with pytest.raises(SpecError, match="bundled spec.*anomaly-detect"):
        load_spec("no-such-spec")


def test_spec_that_is_not_a_mapping_is_refused(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("- just\n- a list\n")
    with pytest.raises(SpecError, match="must be a mapping"):
        load_spec(path)


def test_malformed_override_is_refused():
    with pytest.raises(SpecError, match="key.subkey=value"):
        parse_override("train.max_epochs")
    with pytest.raises(SpecError, match="is not a section"):
        apply_overrides({"seed": 0}, ["seed.x=1"])


def test_augment_spec_errors_name_the_augment_keys():
    with pytest.raises(SpecError, match="task.k: unknown key; allowed keys here: name, ks, seeds"):
        load_spec("augment", ["task.k=3"])
    spec = load_spec("augment", ["task.ks=[10, all]"])
    assert spec.task.name == "augment" and spec.task.ks == [10, "all"]


@pytest.mark.parametrize("name", ["anomaly-detect", "augment", "colorize", "transfer", "share"])
def test_every_task_spec_has_a_tiny_preset_that_shrinks_it(name):
    full, tiny = load_spec(name), load_spec(name, preset="tiny")
    assert full.task.name == tiny.task.name
    assert tiny != full  # the preset changed something ...
    assert tiny.train.max_epochs <= full.train.max_epochs  # ... and never made it bigger
    with_override = load_spec(name, ["seed=7"], preset="tiny")
    assert with_override.seed == 7  # --set applies after the preset


def test_unknown_preset_lists_the_presets():
    with pytest.raises(SpecError, match="no preset 'huge'; presets: tiny"):
        load_spec("colorize", preset="huge")


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["task.estimate=posterior-mean", "task.samples=1"], "needs samples >= 2"),
        (["task.langevin_steps=10", "task.adapt_steps=20"], "adapt_steps must lie in"),
    ],
)
def test_colorize_inference_rules_are_checked_when_the_spec_loads(overrides, expected):
    with pytest.raises(SpecError, match=expected):
        load_spec("colorize", overrides)


def test_colorize_inference_settings_reach_the_inference_config():
    from tasks.colorize.inference import InferenceSpec

    config = load_spec("colorize", ["task.gray_start=true", "task.chain_start=dispersed"]).task
    assert isinstance(config, InferenceSpec)  # the task's section is what inference reads
    assert config.gray_start is True and config.chain_start == "dispersed"
    default = load_spec("colorize").task
    assert isinstance(default, InferenceSpec) and default.gray_start is False


def test_conditional_weights_must_exist(tmp_path):
    with pytest.raises(SpecError, match="task.conditional.weights: no such file '/nope/c.pt'"):
        load_spec("colorize", ["task.conditional.weights=/nope/c.pt"])
    weights = tmp_path / "c.pt"
    weights.write_bytes(b"")
    spec = load_spec("colorize", [f"task.conditional.weights={weights}"])
    assert spec.task.conditional.weights == str(weights)


def test_model_weights_must_exist_and_are_refused_where_the_protocol_fixes_the_training(tmp_path):
    with pytest.raises(SpecError, match="model.weights: no such file '/nope/model.pt'"):
        load_spec("colorize", ["model.weights=/nope/model.pt"])
    weights = tmp_path / "model.pt"
    weights.write_bytes(b"")
    assert load_spec("colorize", [f"model.weights={weights}"]).model.weights == str(weights)
    for name in ("augment", "share"):
        with pytest.raises(SpecError, match=f"task '{name}' .* cannot take a model trained else"):
            load_spec(name, [f"model.weights={weights}"])


def test_spec_takes_the_pretrain_arm_and_refuses_unknown_arms_naming_the_valid_ones():
    spec = load_spec("augment", ["task.arms=[real, real+classic+gen-pretrain]"])
    assert spec.task.arms == ["real", "real+classic+gen-pretrain"]
    assert spec.task.pretrain_multiplier == 25.0
    with pytest.raises(SpecError, match="real\\+classic\\+gen-pretrain"):
        load_spec("augment", ["task.arms=[real, mixup]"])
    with pytest.raises(SpecError, match="pretrain_multiplier"):
        load_spec("augment", ["task.pretrain_multiplier=0"])


def test_the_spec_offers_exactly_the_scores_the_task_implements():
    from typing import get_args

    from tasks.anomaly.scores import SCORES, ScoreName

    assert set(get_args(ScoreName)) == set(SCORES)


def test_selection_is_validation_only_where_the_validation_split_has_anomalies():
    auto = load_spec("anomaly-detect", ["task.select_by=auto"]).task
    assert auto.selection(val_has_anomalies=True) == "validation"
    assert auto.selection(val_has_anomalies=False) == "synthetic"  # no labels: synthetic ones
    plain = load_spec("anomaly-detect", ["task.synthetic_anomalies=false"]).task
    assert plain.selection(val_has_anomalies=False) == "score"
    with pytest.raises(SpecError, match="select_by: synthetic needs synthetic_anomalies: true"):
        load_spec("anomaly-detect", ["task.select_by=synthetic", "task.synthetic_anomalies=false"])
    kept = load_spec("anomaly-detect", ["task.unlabelled=fixed"]).task
    assert kept.selection(val_has_anomalies=False) == "fixed"  # no labels: `score` as given
    assert kept.selection(val_has_anomalies=True) == "validation"
    assert kept.selection_metric("fixed") == "synthetic_auroc"  # champions: synthetic anomalies
    with pytest.raises(SpecError, match="select_by: fixed needs synthetic_anomalies: true"):
        load_spec("anomaly-detect", ["task.select_by=fixed", "task.synthetic_anomalies=false"])
    fixed = load_spec("anomaly-detect", ["task.select_by=score"]).task
    assert fixed.selection(val_has_anomalies=True) == "score"
    forced = load_spec("anomaly-detect", ["task.select_by=validation"]).task
    assert forced.selection(val_has_anomalies=False) == "validation"  # refused later, with data


def test_a_spec_mapping_validates_against_the_task_it_names():
    from pipelines.spec.pipeline import PipelineSpec
    from tasks.augment.spec import AugmentSpec

    spec = PipelineSpec.model_validate({"name": "x", "task": {"name": "augment", "ks": [3]}})
    assert isinstance(spec, PipelineSpec) and isinstance(spec.task, AugmentSpec)
    assert spec.task.ks == [3] and PipelineSpec.from_tree({"name": "y"}).task.name == "anomaly"


def test_an_empty_spec_and_a_key_given_twice_are_refused_with_the_file_and_line(tmp_path):
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing but a comment\n")
    with pytest.raises(SpecError, match="empty.yaml: the spec is empty"):
        load_spec(empty)
    twice = tmp_path / "twice.yaml"
    twice.write_text("name: x\ntrain:\n  max_epochs: 3\nseed: 1\ntrain:\n  max_epochs: 5\n")
    with pytest.raises(
        SpecError, match=r"twice.yaml:5: key 'train' appears twice \(first on line 2\)"
    ):
        load_spec(twice)
    nested = tmp_path / "nested.yaml"
    nested.write_text("name: x\ntrain:\n  max_epochs: 3\n  max_epochs: 4\n")
    with pytest.raises(SpecError, match="nested.yaml:4: key 'max_epochs' appears twice"):
        load_spec(nested)
    python_tag = tmp_path / "tag.yaml"
    python_tag.write_text("name: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec(python_tag)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("name=../escape", "name: '../escape' cannot name files"),
        ("name=a b", "name: 'a b' cannot name files"),
        ("model.params.lr=-1", "lr=-1: a learning rate must be > 0"),
        ("model.params.lr=0", "lr=0: a learning rate must be > 0"),
        ("model.params.weight_decay=-0.1", "weight_decay=-0.1: must be >= 0"),
    ],
)
def test_values_that_would_fail_later_are_refused_at_load(override, message):
    with pytest.raises(SpecError, match=re.escape(message)):
        load_spec("anomaly-detect", [override])


def test_each_synthetic_rule_ranks_by_its_own_column():
    rules = {
        "pooled": "synthetic_auroc",
        "local": "synthetic_local_auroc",
        "global": "synthetic_global_auroc",
        "mean-kind": "synthetic_mean_kind_auroc",
        "worst-kind": "synthetic_worst_kind_auroc",
    }
    for rule, column in rules.items():
        task = load_spec("anomaly-detect", [f"task.synthetic_rule={rule}"]).task
        assert task.selection_metric("synthetic") == column
        assert task.selection_metric("validation") == "val_auroc"
        assert task.selection_metric("score") == "auroc"
    with pytest.raises(SpecError, match="task.synthetic_rule: Input should be 'pooled'"):
        load_spec("anomaly-detect", ["task.synthetic_rule=best"])
