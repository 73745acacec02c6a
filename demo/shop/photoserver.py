"""A small HTTP server for the product photos held in ProductPhoto.csv.

The demo machine has no internet, so the ERP's photos are decoded from the
dump and served on 127.0.0.1; the flow's download step fetches them over
real HTTP as it would from a supplier's site.
"""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from formats import open_reader

# ProductPhoto.csv: ProductPhotoID, ThumbNailPhoto, ThumbnailPhotoFileName,
# LargePhoto, LargePhotoFileName, ModifiedDate.
PHOTO_ID, LARGE_PHOTO = 1, 4


def load_photos(path: Path) -> dict[str, bytes]:
    """Return the large photos of ``path`` keyed by photo id."""
    photos = {}
    with open(path, "rb") as handle:
        reader = open_reader(
            handle,
            name=path.name,
            format="csv",
            header=False,
            delimiter="+|",
            record_terminator="&|\n",
        )
        for row in reader:
            photos[row.values[PHOTO_ID].strip()] = bytes.fromhex(
                row.values[LARGE_PHOTO]
            )
    return photos


class PhotoServer(ThreadingHTTPServer):
    """Serves ``/photos/<id>.gif`` from memory until :meth:`stop`."""

    daemon_threads = True

    def __init__(self, photos: dict[str, bytes], port: int = 0):
        self.photos = photos
        super().__init__(("127.0.0.1", port), PhotoHandler)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/photos"

    def start(self) -> "PhotoServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class PhotoHandler(BaseHTTPRequestHandler):
    def do_GET(self):
        name = self.path.rsplit("/", 1)[-1]
        photo = self.server.photos.get(name.removesuffix(".gif"))
        if not self.path.startswith("/photos/") or photo is None:
            self.send_error(404, "No such photo")
            return
        self.send_response(200)
        self.send_header("Content-Type", "image/gif")
        self.send_header("Content-Length", str(len(photo)))
        self.end_headers()
        self.wfile.write(photo)

    def log_message(self, format, *args):
        pass


def start_photo_server(path: Path, port: int) -> PhotoServer:
    """Start a server on ``port``, or on any free port if that one is taken."""
    photos = load_photos(path)
    try:
        return PhotoServer(photos, port).start()
    except OSError:
        return PhotoServer(photos, 0).start()
