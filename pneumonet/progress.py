"""Progress lines for long steps: durations people read, time left at the pace so far, and the filter that
brings a notebook's progress lines out to ``pneumonet run``'s terminal."""

PROGRESS_PREFIXES = ("== ", "phase ", "cached activations", "SKIPPED", "trained:")


def duration(seconds):
    """``42 s`` under a minute and a half, else ``7 min``."""
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def time_left(seconds_so_far, done, total):
    """Seconds left when ``done`` of ``total`` equal steps took ``seconds_so_far`` (None before the first)."""
    return None if not done else (total - done) * seconds_so_far / done


class NotebookProgress:
    """A file-like sink for papermill's ``stdout_file``: passes each complete line of a notebook's output that
    is a progress line (model headers, epoch lines, skips) to ``log`` with ``prefix``, and drops the rest (tables,
    plots, prose stay in the executed notebook)."""

    def __init__(self, log, prefix):
        self.log, self.prefix, self.pending = log, prefix, ""

    def write(self, text):
        self.pending += text
        *lines, self.pending = self.pending.split("\n")
        for line in lines:
            if line.startswith(PROGRESS_PREFIXES):
                self.log(f"{self.prefix} {line}")
        return len(text)

    def flush(self):
        pass
