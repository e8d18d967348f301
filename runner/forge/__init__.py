"""Forges: where jobs are asked for and where their results go back (GitLab, Jira).

`runner.forge.open_forge.open_forge()` builds the right one for a job's source; this
package's `__init__` stays import-free because `runner.config` imports its settings.
"""
