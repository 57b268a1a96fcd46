"""Retry policies and timeouts for every activity Standby calls, each with the reason for its numbers."""

from datetime import timedelta
from typing import TypedDict

from temporalio.common import RetryPolicy


class ActivityOptions(TypedDict, total=False):
    """Keyword options for workflow.execute_activity, to spread with **."""

    retry_policy: RetryPolicy
    start_to_close_timeout: timedelta
    schedule_to_close_timeout: timedelta
    heartbeat_timeout: timedelta


# Heartbeating activities (hooks, downloads) beat every few seconds; a dead worker is noticed within this.
HEARTBEAT = timedelta(seconds=30)

# The Failback Client downloads the replication software with three more tries, then gives up.
DOWNLOAD = RetryPolicy(initial_interval=timedelta(seconds=5), backoff_coefficient=2, maximum_attempts=4)
# One attempt of a large download over a slow link to the source site.
DOWNLOAD_TIMEOUT = timedelta(minutes=30)

# Connectivity waits on firewalls and agents coming up: retry with backoff until the call site's deadline.
CONNECTIVITY_INTERVAL = timedelta(seconds=1)
CONNECTIVITY_MAX_INTERVAL = timedelta(seconds=30)
CONNECTIVITY = RetryPolicy(
    initial_interval=CONNECTIVITY_INTERVAL, backoff_coefficient=2, maximum_interval=CONNECTIVITY_MAX_INTERVAL
)

# A recovered app takes a while to answer: probe often at first, then every 10 s, until the deadline.
HEALTH = RetryPolicy(
    initial_interval=timedelta(seconds=1), backoff_coefficient=1.5, maximum_interval=timedelta(seconds=10)
)

# Provider API calls: ride out throttling and 5xx; adapters mark permanent errors non-retryable themselves.
PROVIDER = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=8,
)
PROVIDER_TIMEOUT = timedelta(minutes=2)
# Provider calls heartbeat while they wait on the infrastructure, so a dead worker is noticed this fast.
PROVIDER_HEARTBEAT = timedelta(seconds=10)

# Launching a recovery target is idempotent (client tokens) but slow; a few spaced tries, then a human.
LAUNCH = RetryPolicy(
    initial_interval=timedelta(seconds=10),
    backoff_coefficient=2,
    maximum_interval=timedelta(minutes=2),
    maximum_attempts=5,
)
LAUNCH_TIMEOUT = timedelta(minutes=30)

# A watch of the protect monitor: never retried by the server, the monitor's loop starts the next one itself.
ONCE = RetryPolicy(maximum_attempts=1)

# Restarting an app where it serves: a second try after a short pause, then the ladder decides again.
RESTART = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=2)

# Polling for a state ("replicating", "running"): a steady cadence, no backoff, until the deadline.
POLL = RetryPolicy(initial_interval=timedelta(seconds=10), backoff_coefficient=1)

# A single probe or connect attempt; the probe's own timeout is shorter, this is the backstop.
ATTEMPT_TIMEOUT = timedelta(seconds=30)

# Time a hook gets after its own timeout to be killed and report before Temporal gives up on it.
HOOK_GRACE = timedelta(seconds=30)


def HOOK(retries: int, initial_interval: timedelta = timedelta(seconds=2)) -> RetryPolicy:  # noqa: N802
    """A command step's policy: the runbook's retries plus the first try; named like the constants it sits with."""
    return RetryPolicy(
        initial_interval=initial_interval,
        backoff_coefficient=2,
        maximum_interval=timedelta(minutes=1),
        maximum_attempts=retries + 1,
    )


def hook_options(timeout: timedelta, retries: int) -> ActivityOptions:
    """Options for run_hook: its own timeout kills the command, Temporal's start-to-close is the backstop."""
    return ActivityOptions(
        retry_policy=HOOK(retries),
        start_to_close_timeout=timeout + HOOK_GRACE,
        heartbeat_timeout=HEARTBEAT,
    )


def until(
    deadline: timedelta,
    policy: RetryPolicy,
    attempt: timedelta = ATTEMPT_TIMEOUT,
) -> ActivityOptions:
    """Options that retry under policy until deadline passes, each attempt bounded by attempt."""
    # When the deadline ends the retries the ActivityError's retry_state is TIMEOUT and the last attempt's
    # ApplicationError is down its cause chain, sometimes behind a TimeoutError(SCHEDULE_TO_CLOSE).
    return ActivityOptions(
        retry_policy=policy,
        schedule_to_close_timeout=deadline,
        start_to_close_timeout=min(attempt, deadline),
    )


def connectivity_options(
    deadline: timedelta,
    initial_interval: timedelta = CONNECTIVITY_INTERVAL,
    maximum_interval: timedelta = CONNECTIVITY_MAX_INTERVAL,
) -> ActivityOptions:
    """Options for check_connectivity: back off between tries, give up at deadline with the last error."""
    policy = RetryPolicy(
        initial_interval=initial_interval,
        backoff_coefficient=CONNECTIVITY.backoff_coefficient,
        maximum_interval=maximum_interval,
    )
    return until(deadline, policy)


def health_options(deadline: timedelta, policy: RetryPolicy = HEALTH) -> ActivityOptions:
    """Options for check_health: probe until healthy or until deadline."""
    return until(deadline, policy)


def poll_options(deadline: timedelta, every: timedelta = POLL.initial_interval) -> ActivityOptions:
    """Options for a polling activity that raises until the state is reached, every `every`, until deadline."""
    return until(deadline, RetryPolicy(initial_interval=every, backoff_coefficient=1))
