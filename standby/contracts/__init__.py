"""Every payload that crosses the workflow/activity boundary, and the names of the activities.

Plain data only: both `workflows/` and `activities/` import this package, and nothing else of each other.
"""
