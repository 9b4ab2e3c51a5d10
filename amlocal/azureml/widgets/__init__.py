"""azureml.widgets.RunDetails: in amlocal, a link to the run and a text summary."""
from __future__ import annotations

from typing import Any

from .._base import Mirrored, module_getattr


class RunDetails(Mirrored):
    """RunDetails(run).show() prints where the run is and what it has logged so far."""

    def __init__(self, run_instance: Any):
        self.run_instance = run_instance

    def show(self) -> None:
        run = self.run_instance
        print(f"{run!r}\nDetails: {run.get_portal_url()}")
        summary = run._refresh().get("summary")
        if summary:
            print(f"Children: {summary.get('children')} {summary.get('children_by_state')}")
            best = summary.get("best")
            if best:
                print(f"Best so far: {best.get('run_id')} "
                      f"({summary['primary_metric']['name']} = {best.get('best_primary_metric')})")
            return
        for name, value in run.get_metrics().items():
            print(f"{name}: {value}")

    def get_widget_data(self, widget_settings: Any = None) -> dict:
        return {"run_id": self.run_instance.id, "status": self.run_instance.get_status(),
                "metrics": self.run_instance.get_metrics()}


__getattr__ = module_getattr(__name__)
