"""The name of every activity, used by the activity's definition and by every workflow that calls it, and of the
task queues they run on."""


def site_queue(task_queue: str, site: str) -> str:
    """The task queue of a site's actions: `<the workflows' queue>-site-<name>`, served by a worker at that site."""
    return f"{task_queue}-site-{site}"


# The workflow type of each operation, which the runbook's owner starts as its child.
OPERATION_WORKFLOWS = {"drill": "Drill", "failover": "Failover", "failback": "Failback", "return": "ReturnToNormal",
                       "switchover": "Switchover"}

# Sites: replication, recovery points, launch, stop, identity.
REPLICATION_STATUS = "replication_status"
REPLICATE = "replicate"
RECOVERY_POINTS = "recovery_points"
LAUNCH_TARGET = "launch_target"
START_APP = "start_app"
STOP_APP = "stop_app"
TERMINATE_TARGETS = "terminate_targets"
SET_DIRECTION = "set_direction"
# A drain, then the replication pause of the next plan step, in one activity.
DRAIN_THEN_SET_DIRECTION = "drain_then_set_direction"
MOVE_IDENTITY = "move_identity"
# Batches of machines: each app's moment chosen and every machine launched, or every app stopped, in one activity.
LAUNCH_TARGETS = "launch_targets"
STOP_APPS = "stop_apps"
# A site's consecutive stop waves, one after the other, in one activity.
STOP_WAVES = "stop_waves"
# A warm switchover (standby.warm): apps started warm before the source stops, then cut over after the drain.
START_WARM = "start_warm"
CUT_OVER = "cut_over"

# Scheduled drills ask the runbook's owner through a Temporal client, then wait for the drill they started.
REQUEST_DRILL = "request_drill"
AWAIT_DRILL = "await_drill"
# The protect monitor: apps watched where they serve, heartbeats of a pair's sites.
WATCH_HEALTH = "watch_health"
WATCH_PAIR = "watch_pair"

# The one-time import of a runbook's state from an earlier version's file.
IMPORT_LEGACY_STATE = "import_legacy_state"

# Command steps, probes and downloads.
RUN_STEP = "run_step"
RUN_HOOK = "run_hook"
CHECK_HEALTH = "check_health"
CHECK_CONNECTIVITY = "check_connectivity"
DOWNLOAD = "download"

# Remediation actions, by the action's kind in the runbook.
REMEDIATE = {
    "restart_vm": "vsphere_restart_vm",
    "reset_vm": "vsphere_reset_vm",
    "vmotion": "vsphere_vmotion",
    "storage_vmotion": "vsphere_storage_vmotion",
}

# The Failback Client's steps.
FAILBACK_AUTHENTICATE = "failback_authenticate"
FAILBACK_DETECT = "failback_detect"
FAILBACK_MAP_VOLUMES = "failback_map_volumes"
FAILBACK_CONFIGURE = "failback_configure"
FAILBACK_INSTALL = "failback_install"
FAILBACK_VERIFY_ENDPOINT = "failback_verify_endpoint"
FAILBACK_PAIR = "failback_pair"
FAILBACK_REPLICATE = "failback_replicate"
FAILBACK_STOP = "failback_stop"
