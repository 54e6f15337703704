"""The host board's dispute confirmations from a file (firmware/board/host.py offers it by
name): what ``host_main`` gives a unit unless told to confirm every dispute. Its own module,
because a host unit holds it for its whole run (the other console objects are loaded only
where they are used: firmware/board/host_console.py)."""

import os


class FileConfirm:
    """The driver's answer to a dispute, from a file (firmware/board/confirm.py has the
    contract): ``<root>/confirm`` holding a line ``yes <id>`` to open the period, or
    ``no <id>`` to decline, where ``<id>`` is the dispute id in hex or at least its first 8
    digits (the unit prints it when it asks). Naming the dispute keeps a file left over from
    an earlier question from answering a new one. The line is removed once it answered.
    """

    MIN_PREFIX = 8

    def __init__(self, path, write=print):
        self.path = path
        self.write = write
        self.asked = None

    def ask(self, dispute):
        if self.asked != dispute.dispute_id:
            self.asked = dispute.dispute_id
            self.write(
                "[dispute] %s waits for confirmation: open statement %d (%d segments)? "
                "write 'yes %s' or 'no %s' to %s"
                % (
                    dispute.id_hex,
                    dispute.statement_seq,
                    dispute.segment_count,
                    dispute.id_hex[: self.MIN_PREFIX],
                    dispute.id_hex[: self.MIN_PREFIX],
                    self.path,
                )
            )

    def answer(self, dispute):
        try:
            with open(self.path) as f:
                lines = f.read().split("\n")
        except OSError:
            return None
        for i, line in enumerate(lines):
            words = line.strip().lower().split()
            if len(words) != 2 or words[0] not in ("yes", "no"):
                continue
            prefix = words[1]
            if len(prefix) < self.MIN_PREFIX or not dispute.id_hex.startswith(prefix):
                continue
            rest = lines[:i] + lines[i + 1 :]
            if any(x.strip() for x in rest):
                with open(self.path + ".tmp", "w") as f:
                    f.write("\n".join(rest))
                os.rename(self.path + ".tmp", self.path)
            else:
                os.remove(self.path)
            return words[0] == "yes"
        return None
