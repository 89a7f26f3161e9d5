"""The one exception type users see: a message that says what is wrong and how to fix it."""


class ForecastError(ValueError):
    """Bad input or state that the user can fix; the CLI prints it as one line and exits 1."""


class TrainingInterrupted(ForecastError):
    """Ctrl-C during training; the last finished epoch is saved and `--resume` continues from it."""
