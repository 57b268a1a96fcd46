"""The lines under a warm switchover's steps in `standby plan`: what each app does before and after the stop."""

from standby.plan_steps import AppStep, CutOverGroup, WarmGroup


def lines(step: WarmGroup | CutOverGroup) -> list[str]:
    """A group's hooks and, app by app in dependency order, what the step does to it."""
    stage = step.stage
    apps = [app for wave in stage.waves for app in wave.apps]
    if isinstance(step, WarmGroup):
        return [h.label() for h in stage.before] + [f"{a.app}: {_warm(a, step)}" for a in apps]
    return [f"{a.app}: {_cut(a, step)}" for a in apps] + [h.label() for h in stage.after]


def _warm(app: AppStep, step: WarmGroup) -> str:
    machines = ", ".join(app.machines)
    if app.app in step.standby:
        done = [f"start {machines} warm at {step.to_site} (opens no data, not ready until promoted)"]
    else:
        done = [f"launch {machines} at {step.to_site} (stateless: ahead, in full)",
                *(h.label() for h in app.post_launch), *(f"health {check}" for check in app.health)]
    return "; ".join([*(h.label() for h in app.pre_launch), *done])


def _cut(app: AppStep, step: CutOverGroup) -> str:
    done = []
    if app.app in step.standby:
        point = f" at or before {step.point:%Y-%m-%dT%H:%M:%SZ}" if step.point else ""
        done = [f"promote {', '.join(app.machines)} from the drained point{point}",
                *(h.label() for h in app.post_launch)]
    done += [f"health {check}" for check in app.health]
    done += [f"move {app.endpoint} to {step.to_site}"] if app.endpoint else []
    return "; ".join(done)
