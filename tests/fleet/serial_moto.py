"""moto's AWS API served one request at a time: ``python serial_moto.py PORT``.

``moto_server`` always serves requests on threads, and moto runs a
TransactWriteItems by deep-copying the table and, when any condition fails,
restoring that copy: a transaction refused on one thread then erases a
transaction another thread committed meanwhile (a granted slot reverts to
its old token). DynamoDB itself serialises conflicting transactions, so
the fleet tests serve moto single-threaded to keep that guarantee.
"""

from __future__ import annotations

import sys

from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import BaseWSGIServer, run_simple

if __name__ == "__main__":
    # one request at a time, but a long queue: 50 agents connect at once (the default
    # backlog of 5 refuses connections, and boto3 gives up after its retries)
    BaseWSGIServer.request_queue_size = 1024
    run_simple("127.0.0.1", int(sys.argv[1]), DomainDispatcherApplication(create_backend_app),
               threaded=False)
