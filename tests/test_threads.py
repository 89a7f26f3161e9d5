"""Thread policy: fixed counts win, the caller's setting comes back, busy machines get one thread."""
import pytest
import torch

from forecast.errors import ForecastError
from forecast.forecaster import CpuMeter, choose, cores, fixed_count, torch_threads


def test_a_fixed_count_is_used_and_the_callers_setting_restored(monkeypatch):
    monkeypatch.delenv("FORECAST_THREADS", raising=False)
    before = torch.get_num_threads()
    with torch_threads(1) as meter:
        assert torch.get_num_threads() == 1 and meter is None
    assert torch.get_num_threads() == before


def test_the_environment_variable_fixes_the_count_and_bad_values_are_named(monkeypatch):
    monkeypatch.setenv("FORECAST_THREADS", "1")
    assert fixed_count() == 1 and fixed_count(2) == 2  # an explicit setting beats the environment
    monkeypatch.setenv("FORECAST_THREADS", "many")
    with pytest.raises(ForecastError, match="FORECAST_THREADS must be a positive whole number"):
        fixed_count()


def test_every_core_while_others_leave_them_free_one_thread_otherwise():
    assert choose(0.1, 2) == 2 and choose(0.0, 8) == 8
    assert choose(0.6, 2) == 1 and choose(2.0, 8) == 1
    assert choose(None, 4) == 4 and choose(3.0, 1) == 1


@pytest.mark.slow
def test_the_meter_sees_another_busy_process_and_not_its_own_work():
    import subprocess
    import sys
    import time
    meter = CpuMeter()
    if meter.last is None:
        pytest.skip("no /proc/stat here")
    meter.others(wait=True)
    time.sleep(0.3)
    if meter.others(wait=True) > 0.5:
        pytest.skip("other programs keep this machine busy; the meter is tested on a quiet one")
    start = time.process_time()
    while time.process_time() - start < 0.3:  # our own work: not "others"
        pass
    assert meter.others(wait=True) < 0.5
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        meter.others(wait=True)
        time.sleep(0.5)
        assert meter.others(wait=True) > 0.5
    finally:
        spinner.kill()
        spinner.wait()


def test_default_is_every_core_on_a_quiet_machine(monkeypatch):
    monkeypatch.delenv("FORECAST_THREADS", raising=False)
    monkeypatch.setattr("forecast.forecaster.CpuMeter.others", lambda self, wait=False: 0.0)
    with torch_threads() as meter:
        assert meter is not None and torch.get_num_threads() == cores()
