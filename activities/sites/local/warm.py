"""Warm starts on a local site (standby.warm): a process on the machine's port that opens no data until promoted.

The warm start keeps its target record and pid record under the operation's key, as a launch does, with no point
yet. The promote restores the drained point into the machine's data folder, refused when anything but that warm
process uses the folder or the warm process itself works in it or holds a file of it open, and only then sends
the promote signal: no launch lands on live data, and a retry neither restores twice nor starts a second process.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import psutil

from activities.sites.local import processes, serving, usage
from activities.sites.local.launching import Launcher, exclusive
from standby.contracts.sites import AppRef, LaunchInput, MachineRef, Target


class WarmLauncher(Launcher):
    """Starts a site's machines warm and promotes them."""

    def start_warm(self, inp: LaunchInput) -> Target:
        """Starts the app's warm argv once per key on the machine's port and data path; a retry finds it."""
        self._admit(inp.app.name, inp.epoch, [inp.source.name, self.site.name])
        record = self.layout.target(self.site.name, inp.key, inp.machine.name)
        own = self.layout.target_pid(self.site.name, inp.key, inp.machine.name)
        target, files = self._target(inp.model_copy(update={"point": None})), self._files(inp)
        with exclusive(record):
            fresh = not record.exists()
            if fresh:
                self._refuse_in_use(inp.app, inp.machine, files.data, target.port or 0, "start warm on")
                record.write_text(target.model_dump_json())
            return self._run(inp.app, inp.machine, target, files, self._endpoints(inp), inp.key, own, checked=fresh)

    def promote(self, inp: LaunchInput) -> Target:
        """Restores `inp.point` into the data folder once, then signals the key's warm process to open it."""
        self._admit(inp.app.name, inp.epoch, [inp.source.name, self.site.name])
        record = self.layout.target(self.site.name, inp.key, inp.machine.name)
        own = self.layout.target_pid(self.site.name, inp.key, inp.machine.name)
        where = f"{inp.app.name}/{inp.machine.name} at {self.site.name}"
        with exclusive(record):
            pid = processes.running_pid(own) if record.exists() else None
            if pid is None:
                raise serving.Refused(f"no warm process of {where} runs under this operation; see "
                                      f"{self._files(inp).log}")
            target = Target.model_validate_json(record.read_text())
            if target.point_id is None:
                data = self._files(inp).data
                self._refuse_others(inp.app, inp.machine, pid, data)
                self._restore(inp, data)
                target = target.model_copy(update={"point_id": inp.point.id if inp.point else None})
                record.write_text(target.model_dump_json())
            # A second signal (a retry) finds the process promoted already: the app takes it as a no-op.
            warm = inp.app.config.warm
            os.kill(pid, signal.Signals[warm.promote.signal if warm and warm.promote else "SIGUSR1"])
            return target

    def _refuse_others(self, app: AppRef, machine: MachineRef, pid: int, data: Path) -> None:
        """Refused when anything but the warm process uses the folder or the port, or the warm process opened it."""
        family = usage.family(pid)
        others = [user for user in serving.in_use(data, self.config.port_base + machine.index)
                  if user.pid not in family]
        inside = [member for member in family if _touches(member, os.fspath(data))]
        if others or inside:
            found = "; ".join([*(f"{user} is there ({user.how})" for user in others),
                               *(f"the warm process (pid {member}) already works in it" for member in inside)])
            raise serving.Refused(f"will not restore into the data folder {data} of {app.name}/{machine.name} at "
                                  f"{self.site.name}: {found}")

    def _argv(self, app: AppRef, machine: MachineRef, port: int, data: Path,
              endpoints: dict[str, int]) -> list[str]:
        warm = app.config.warm
        if warm is None or warm.start is None:
            raise serving.Refused(f"app {app.name} has no warm start argv")
        return self._render(warm.start, app, machine, port, data, endpoints)


def _touches(pid: int, folder: str) -> bool:
    """Whether the process works in the folder or holds a file under it open."""
    try:
        process = psutil.Process(pid)
        paths = [process.cwd(), *(f.path for f in process.open_files())]
    except psutil.Error:
        return False
    return any(path == folder or path.startswith(folder.rstrip(os.sep) + os.sep) for path in paths)
