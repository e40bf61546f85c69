"""A writer process for the fault suite: a clerk sending orders' commands to the service for a
while, then its acknowledgements and failures written to a JSON file.

    python -m tests.faults.writer PORT TOKEN NAME SECONDS OUT

Standard library only (tests.faults.traffic): it starts fast and holds no database session.
"""

from __future__ import annotations

import json
import sys
import threading
from dataclasses import asdict
from pathlib import Path

from tests.faults.traffic import Api, Clerk


def main(argv: list[str]) -> int:
    port, token, name, seconds, out = argv
    stop = threading.Event()
    clerk = Clerk(Api(int(port), token), name, pause=0.02, resend=False, stop=stop)
    clerk.start()
    stop.wait(float(seconds))
    stop.set()
    clerk.join(timeout=30)
    replies = clerk.snapshot()
    Path(out).write_text(
        json.dumps(
            {
                "acks": [asdict(ack) for ack in clerk.acks],
                "failed": [str(reply) for reply in replies if not reply.ok],
                "sent": len(replies),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
