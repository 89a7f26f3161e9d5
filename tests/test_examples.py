"""The Examples in the docstrings of the main public functions run as written (the API reference
shows them), each in a fresh folder."""
import doctest

import pytest

import forecast.loading
import forecast.panel
import forecast.train
import forecast.trained
import forecast.tuning
import forecast.walkforward

pytestmark = pytest.mark.slow  # each example trains small models


@pytest.mark.parametrize("function", [forecast.train.fit, forecast.walkforward.backtest, forecast.tuning.tune,
                                      forecast.loading.load, forecast.loading.load_source, forecast.panel.from_long, forecast.trainer.update,
                                      forecast.trained.TrainedModel], ids=lambda f: f.__name__)
def test_the_docstring_example_runs_and_prints_what_it_shows(function, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    finder = doctest.DocTestFinder(recurse=False)
    [test] = finder.find(function, function.__name__, globs={})
    assert test.examples, f"{function.__name__} has no example"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    assert runner.failures == 0, f"{function.__name__}'s example failed (output above)"
