"""Progress bars for the study-file commands, shown only to a person watching a terminal."""

import sys

from tqdm import tqdm

# Runs longer than this many files get a progress bar (in a terminal).
PROGRESS_AFTER = 20


def progress(items, command, verbosity, desc):
    """`items` under a progress bar on stderr, shown only when it helps a person watching.

    Never when stdout is not a terminal or at --verbosity 0, so tests, CI logs
    and pipes stay clean. Print lines meanwhile with say().
    """
    show = len(items) > PROGRESS_AFTER and verbosity > 0 and command.stdout.isatty()
    return tqdm(items, desc=desc, unit="file", file=sys.stderr, leave=False, disable=not show)


def say(stream, message):
    """Write a line to the command's stdout or stderr above the progress bar, if one is showing."""
    with tqdm.external_write_mode():
        stream.write(message)
