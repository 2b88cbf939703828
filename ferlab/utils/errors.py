"""ferlab's input errors: bad input the user can fix, reported by the tools in one line.

Every error that means "the file, the config value or the way the job was
started is wrong" derives from :class:`FerlabInputError` (and from the
builtin it used to be, so ``except FileNotFoundError`` / ``except
ValueError`` keep working). ``tools/*.py`` end such an error with one
``<tool>: error: <message>`` line on stderr and exit code 2 (see
:func:`ferlab.utils.cli.run_tool`); anything else keeps its traceback.

This module imports nothing, so any ferlab module can use it.
"""

from __future__ import annotations


class FerlabInputError(Exception):
    """Base class of errors caused by the user's input, not by a bug.

    The message must say what is wrong and where (file, line, option) in one
    line; the tools print only that line unless ``--debug`` is given.
    """


class InputFileNotFoundError(FerlabInputError, FileNotFoundError):
    """A file or folder named by the config or the command line does not exist."""


class AmpUnavailableError(FerlabInputError, RuntimeError):
    """Mixed precision was requested on a machine that cannot run it."""


class CliUsageError(FerlabInputError, ValueError):
    """A command-line option has a value the tool cannot use."""


__all__ = ['AmpUnavailableError', 'CliUsageError', 'FerlabInputError', 'InputFileNotFoundError']
