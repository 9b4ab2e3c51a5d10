"""The container-test loop: claims queued container-test runs and executes them, one at a time
(each builds an image and runs a container; two at once would only fight over two cores)."""
from __future__ import annotations

import logging
import threading

from ..containertests import KIND, container_name, execute
from ..settings import Settings
from ..store import Store, Workspace
from ..targets import docker_image as images

log = logging.getLogger("amlocal.container_tests")
INTERRUPTED = "the agent stopped while the container test was running"


class ContainerTestQueue:
    """One agent loop: tick() starts the oldest queued container test when none runs."""

    def __init__(self, store: Store, ws: Workspace, settings: Settings):
        self.store, self.ws, self.settings = store, ws, settings
        self.thread: threading.Thread | None = None
        self.recovered = False

    def recover(self) -> None:
        """Tests a previous agent left active fail; their containers are removed."""
        for run in self.store.fail_interrupted_runs(INTERRUPTED, kinds=(KIND,)):
            log.warning("container test %s was active when the agent stopped: marked Failed",
                        run.id)
            try:
                images.remove_container(container_name(self.ws, run.id), timeout=0)
            except images.DockerError:
                pass  # no engine: nothing can have been left running on it

    def tick(self) -> None:
        if not self.recovered:
            self.recovered = True
            self.recover()
        if self.thread is not None and self.thread.is_alive():
            return
        run = self.store.claim_next_run(kinds=(KIND,))
        if run is None:
            return
        self.thread = threading.Thread(target=self._execute, args=(run,),
                                       name=f"container-test-{run.id}", daemon=True)
        self.thread.start()

    def _execute(self, run) -> None:
        try:
            execute(self.store, self.ws, self.settings, run,
                    on_end=lambda status: log.info("container test %s %s", run.id, status))
        except Exception:  # an agent bug must not leave the run hanging
            log.exception("container test %s: internal error", run.id)
            self.store.finish_run(run.id, "Failed", {"message": "amlocal could not execute the "
                                                                "container test"})

    def stop(self) -> None:
        """Ask the running test to stop and wait for it (it removes its container)."""
        if self.thread is not None and self.thread.is_alive():
            try:
                self.store.request_cancel(self.thread.name.removeprefix("container-test-"))
            except Exception:  # noqa: BLE001 - it just ended
                pass
            self.thread.join(timeout=60)
