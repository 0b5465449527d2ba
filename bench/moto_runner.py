"""``python -m bench.moto_runner PORT``: a moto server in a process of its own.

The same server the test suite starts (``ThreadedMotoServer``), with request
logging off as for every system benchmarked; it runs until SIGTERM.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading

from moto.server import ThreadedMotoServer


def main(port: int) -> None:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    print(f"moto listening on 127.0.0.1:{port}", flush=True)
    stop.wait()
    server.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]))
