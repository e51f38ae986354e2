"""Progress bars for the content commands, shown only to a person watching a terminal."""

import sys

from tqdm import tqdm

# Runs longer than this many items get a progress bar (in a terminal).
PROGRESS_AFTER = 20


def progress(items, command, verbosity, desc, *, total=None, unit="file"):
    """`items` under a progress bar on stderr, shown only when it helps a person watching.

    Never when stdout is not a terminal or at --verbosity 0, so tests, CI logs
    and pipes stay clean. Print lines meanwhile with say(). `total` is how many
    items there are, for an iterator that cannot say.
    """
    total = len(items) if total is None else total
    show = total > PROGRESS_AFTER and verbosity > 0 and command.stdout.isatty()
    return tqdm(items, desc=desc, total=total, unit=unit, file=sys.stderr, leave=False, disable=not show)


def say(stream, message):
    """Write a line to the command's stdout or stderr above the progress bar, if one is showing."""
    with tqdm.external_write_mode():
        stream.write(message)
