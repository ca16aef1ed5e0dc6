"""moto's AWS API served one request at a time: ``python serial_moto.py PORT``.

``moto_server`` always serves requests on threads, and moto's conditional
writes are not atomic there:

- a TransactWriteItems deep-copies the table and, when any condition fails,
  restores that copy, so a transaction refused on one thread erases one
  another thread committed meanwhile (a granted fleet slot reverts);
- a PutObject with ``If-None-Match: *`` (or ``If-Match``) checks the key and
  then writes it, so two racing creates of one lock object can both succeed
  (seen once in the S3 lock race under a loaded full suite: a double hold).

S3 and DynamoDB themselves make these writes atomic, so the tests that race
on them (fleet, S3 state locks) serve moto single-threaded
(``servers.moto_server(serial=True)``) to keep that guarantee.
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
