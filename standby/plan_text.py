"""A plan as numbered lines an operator reads before running it."""

from standby.plan import AppStep, HookStep, Plan


def lines(plan: Plan) -> list[str]:
    """The plan in execution order, one step a line, nested steps indented."""
    out = [f"{plan.operation} of {plan.runbook}: {_direction(plan)} ({plan.mode} mode), apps: {', '.join(plan.apps)}"]
    approval = [[f"approval by {plan.approval} (skip with --yes)"]] if plan.approval else []
    checks = [[f"precondition: {p} (skip with --force)"] for p in plan.preconditions]
    prepare = [[p] for p in plan.prepare]
    # Preconditions come first so nobody is asked to approve what would be refused; failback also
    # prepares (reverses replication) before anyone approves the cut-over itself.
    steps = checks + prepare + approval if plan.operation == "failback" else checks + approval + prepare
    steps += [[_hook(h)] for h in plan.before]
    if plan.stop:
        steps.append([f"stop at {plan.from_site} in reverse order, if it still answers (abort if it cannot be stopped)"]
                     + [f"  wave {n}: stop {', '.join(w.apps)} (group {w.group})" for n, w in enumerate(plan.stop, 1)])
    steps += [[t] for t in plan.transfer]
    for stage in plan.recover:
        block = [f"group {stage.group}:"] + [f"  {_hook(h)}" for h in stage.before]
        for n, wave in enumerate(stage.waves, 1):
            block.append(f"  wave {n} (in parallel): {', '.join(a.app for a in wave.apps)}")
            block += [f"    {line}" for app in wave.apps for line in _app(app, plan)]
        block += [f"  {_hook(h)}" for h in stage.after]
        steps.append(block)
    steps += [[_hook(h)] for h in plan.after]
    steps += [[f] for f in plan.finish]
    for number, block in enumerate(steps, 1):
        out.append(f"{number:>3}. {block[0]}")
        out += [f"     {line}" for line in block[1:]]
    return out


def _direction(plan: Plan) -> str:
    return plan.to_site if plan.from_site == plan.to_site else f"{plan.from_site} -> {plan.to_site}"


def _hook(hook: HookStep) -> str:
    if hook.kind == "prompt":
        return f"prompt ({hook.at}): \"{hook.text}\" — waits for `standby continue`"
    if hook.kind == "action":
        return f"action ({hook.at}): {hook.text}"
    return f"command ({hook.at}): {hook.text}"


def _app(app: AppStep, plan: Plan) -> list[str]:
    verb = "launch test target" if plan.mode == "test" else "launch"
    out = [f"{app.app}: " + "; ".join(
        [_hook(h) for h in app.pre_launch]
        + [f"{verb} {', '.join(app.machines)} at {plan.to_site}"]
        + [_hook(h) for h in app.post_launch]
        + ([f"{app.health_checks} health check(s)"] if app.health_checks else [])
        + ([f"move {app.endpoint} to {plan.to_site}"] if app.endpoint and plan.move_identity else [])
    )]
    return out
