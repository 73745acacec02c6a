"""``manage.py rundemo``: the nightly catalog sync, end to end.

Loads the nightly flow, serves the product photos over HTTP, starts a
Celery worker (unless told workers run already), runs the flow, waits,
and prints the run's report and what the shop's tables hold afterwards.
"""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from django.conf import settings
from django.core.files.storage import storages
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q

from flows.loader import load_flow
from flows.models import FlowRun
from shop.models import Category, Product, Subcategory, Vendor
from shop.photoserver import start_photo_server

DEMO_DIR = Path(__file__).resolve().parents[3]


class Command(BaseCommand):
    help = "Run the demo's nightly catalog sync on a real Celery worker."

    def add_arguments(self, parser):
        parser.add_argument(
            "--no-worker",
            action="store_true",
            help="Do not start a worker; use the ones already running.",
        )
        parser.add_argument(
            "--concurrency",
            type=int,
            default=2,
            help="Processes of the embedded worker (default 2).",
        )
        parser.add_argument(
            "--photo-port",
            type=int,
            default=int(os.environ.get("PHOTO_PORT", 8765)),
            help="Port of the photo server (default 8765, or $PHOTO_PORT); if it "
            "is taken, any free port is used.",
        )
        parser.add_argument(
            "--timeout",
            type=float,
            default=600,
            help="Seconds to wait for the run (default 600).",
        )

    def handle(self, *args, no_worker, concurrency, photo_port, timeout, **options):
        with open(
            DEMO_DIR / "definitions" / "nightly.json", encoding="utf-8"
        ) as handle:
            flow = load_flow(json.load(handle))
        self.stdout.write(f"Flow {flow.slug!r} loaded with {flow.steps.count()} steps.")

        erp = Path(storages["erp"].location)
        server = start_photo_server(erp / "ProductPhoto.csv", photo_port)
        self.stdout.write(
            f"Serving {len(server.photos)} product photos at {server.base_url}"
        )
        worker = None if no_worker else self._start_worker(concurrency)
        try:
            call_command(
                "syncflow",
                "run",
                flow.slug,
                "--wait",
                f"--timeout={timeout}",
                f"--param=photo_base_url={server.base_url}",
                stdout=self.stdout,
            )
        finally:
            if worker is not None:
                self._stop_worker(worker)
            server.stop()
        self._summary(FlowRun.objects.filter(flow=flow).first())

    def _start_worker(self, concurrency: int) -> subprocess.Popen:
        log = Path(settings.VAR_DIR) / "worker.log"
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "bikeshop",
            "worker",
            f"--concurrency={concurrency}",
            "--loglevel=INFO",
            f"--queues={settings.CELERY_TASK_DEFAULT_QUEUE}",
            "--without-gossip",
            "--without-mingle",
        ]
        self.stdout.write(f"Starting a Celery worker (log: {log})")
        with open(log, "ab") as handle:
            return subprocess.Popen(
                command, cwd=DEMO_DIR, stdout=handle, stderr=subprocess.STDOUT
            )

    def _stop_worker(self, worker: subprocess.Popen) -> None:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()

    def _summary(self, run: FlowRun) -> None:
        without = Product.objects.filter(subcategory__isnull=True).count()
        with_photo = Product.objects.exclude(
            Q(photo="") | Q(photo__isnull=True)
        ).count()
        out = self.stdout.write
        out("")
        out("The shop now holds:")
        out(f"  {Category.objects.count()} categories")
        out(f"  {Subcategory.objects.count()} subcategories")
        out(f"  {Vendor.objects.count()} vendors")
        out(f"  {Product.objects.count()} products ({without} without a subcategory)")
        out(f"  {with_photo} products with their photo stored")
        out("")
        out("Recalculated totals per category:")
        for category in Category.objects.order_by("name"):
            out(
                f"  {category.name:<12} {category.product_count:>4} products, "
                f"average list price {category.average_list_price}"
            )
        out("")
        export = run.step_runs.get(key="price_list").output if run else {}
        if export.get("file"):
            out(f"Price list: {export['file']} ({export['rows']} products)")
        if run is None or run.status != "succeeded":
            raise CommandError("The nightly run did not succeed.", returncode=1)
        out("All steps succeeded.")
