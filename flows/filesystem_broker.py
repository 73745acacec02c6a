"""kombu's filesystem transport, with messages written atomically.

The filesystem transport lets Celery run with no broker server, which is
what the embedded default and the test suite use. Its producer opens the
message file and then writes it, while a consumer may rename the file away
in between and read it empty; the worker then stops with a JSON decoding
error. Here each message is written under a name the consumer ignores and
renamed into place when complete, which is atomic on one filesystem.

Use it with::

    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT = "flows.filesystem_broker.Transport"

Limitation: like kombu's own, this transport serves workers on the machine
that holds the folders only, and loses the message a worker has taken when
that worker dies (there is no acknowledgement); the sweep of lost runs
sends such runs out again.
"""

import os
import uuid
from time import monotonic

from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    """A filesystem channel that writes each message in one rename."""

    def _put(self, queue, payload, **kwargs):
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = os.path.join(self.data_folder_out, f".{name}.partial")
        try:
            with open(partial, "wb") as handle:
                handle.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            raise filesystem.ChannelError(
                f"Cannot add file {final!r} to directory"
            ) from exc


class Transport(filesystem.Transport):
    """kombu's filesystem transport with :class:`Channel`."""

    Channel = Channel
