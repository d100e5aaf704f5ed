"""Errors a user can cause. The CLI prints each as one line and exits non-zero, no traceback."""


class NumbabenchError(Exception):
    """Base class: a mistake in what was asked, with a message that says what to do."""


class UnknownName(NumbabenchError, KeyError):
    """An unknown technique or target name."""

    def __str__(self):  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class InputError(NumbabenchError, ValueError):
    """Inputs of the wrong dtype, shape or layout for a technique."""


class TargetUnavailable(NumbabenchError, RuntimeError):
    """The target cannot run in this process or on this machine (no GPU, no CuPy, wrong mode)."""


class ResultsError(NumbabenchError, ValueError):
    """A results file that is missing, corrupt or not a numbabench results file."""
