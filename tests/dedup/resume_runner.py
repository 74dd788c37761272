"""Run the dedup stages of `OUTPUT/text` and SIGKILL the process inside one stage.

Used by test_resume.py as `python -m tests.dedup.resume_runner OUTPUT STAGE [CONFIG]`: the kill is a real
one (no cleanup, temporary files left behind, no completion marker), at the last task of STAGE.
"""

from __future__ import annotations

import os
import signal
import sys

from datatrove.pipeline.base import PipelineStep

from corpus.app.runner import RunSettings, run_stages
from dedup.config import DedupConfig
from dedup.stages import dedup_stages


class KillSwitch(PipelineStep):
    """Passes documents on; on the chosen rank, kills the process after `after` of them (or at the end)."""

    name = "kill switch"

    def __init__(self, rank: int, after: int) -> None:
        super().__init__()
        self.kill_rank = rank
        self.after = after

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        for seen, doc in enumerate(data or ()):
            if rank == self.kill_rank and seen == self.after:
                os.kill(os.getpid(), signal.SIGKILL)
            yield doc
        if rank == self.kill_rank:
            os.kill(os.getpid(), signal.SIGKILL)


#: configurations by name (the third argument); "rounds" finds components by rounds of three tasks
CONFIGS = {"default": DedupConfig(), "rounds": DedupConfig(cluster_rounds=40, cluster_shards=3)}


def main(output: str, stage_index: int, config: str = "default", tasks: int = 2) -> None:
    stages = dedup_stages(CONFIGS[config], "text", output, tasks)
    stage = stages[stage_index]
    last = stage.tasks - 1
    if stage_index in (0, 3):  # after the reader: killed in the middle of the input
        stage.steps.insert(1, KillSwitch(last, 3))
    else:  # after the step: killed once its files are written, before the completion marker
        stage.steps.append(KillSwitch(last, 0))
    run_stages(stages[: stage_index + 1], RunSettings(workers=1))
    sys.exit("the kill switch did not fire")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), *sys.argv[3:4])
