import pytest

from genmodels.contract import GenerativeModel, Likelihood
from genmodels.errors import DuplicateNameError, UnknownNameError
from genmodels.registry import get_model_class, list_models, register_model


def test_realnvp_is_listed_with_its_capabilities():
    info = {m.name: m for m in list_models()}
    assert info["realnvp"].likelihood == "exact"
    assert "sample" in info["realnvp"].capabilities


def test_parameter_count_at_default_config():
    from genmodels.registry import count_parameters

    model = get_model_class("realnvp")((1, 28, 28))
    assert count_parameters("realnvp") == sum(p.numel() for p in model.parameters())
    # closed-form models count their fitted numbers: PPCA on D = 784 with q = 32 components
    assert count_parameters("ppca") == 784 + 32 * 784 + 32 + 1


def test_unknown_name_lists_valid_models():
    with pytest.raises(UnknownNameError) as err:
        get_model_class("no-such-model")
    assert "unknown model 'no-such-model'" in str(err.value)
    assert "realnvp" in str(err.value)


def test_duplicate_registration_is_refused():
    get_model_class("realnvp")  # make sure the built-ins are loaded

    class Impostor(GenerativeModel):
        name = "realnvp"
        likelihood = Likelihood.NONE

    with pytest.raises(DuplicateNameError, match="already registered"):
        register_model(Impostor)
    assert get_model_class("realnvp").__name__ == "RealNVP"


def test_model_without_name_cannot_register():
    class Nameless(GenerativeModel):
        pass

    with pytest.raises(ValueError, match="no `name`"):
        register_model(Nameless)
