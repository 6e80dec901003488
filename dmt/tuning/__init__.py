"""Runtime tuning: a thread that measures the running copy and moves two knobs, the writer
count and the chunk size.

::

    monitor.py      the periodic thread: collect -> decide -> validate -> one Update in the slot
      metrics.py      pipeline counters + host readings -> one MetricsSnapshot per interval
      controller.py   the rules, composed of
        measure.py      an interval's sustained rate, which samples count, the noise
        safety.py       the memory budget; back-offs on memory pressure, errors, a saturated CPU
        trials.py       each change measured, kept or undone; A-B-A re-judgement and confirm
        search.py       the phases: chunk sizing -> writer ramp -> hold, with probes
        chunks.py       chunk sizes toward the batch-time target, then larger while they pay
        phases.py       the search's state, one object per phase
        params.py       ControllerSettings: the rules' parameters and this run's writer bound
      claude.py       the Claude adviser (the only module that imports anthropic)
        prompt.py       what Claude is shown, and the tool schema it answers with
      decisions.py    Decision, its bounds check, and the record of an applied one

The package reads the pipeline only through a :class:`~dmt.pipeline.stats.PipelineSnapshot`
and changes it only through the :class:`~dmt.pipeline.updates.UpdateSlot`; every bound comes
from :mod:`dmt.settings`.
"""
