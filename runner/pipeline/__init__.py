"""The path of one job as stage modules: workspace → baseline → generate (or the agent,
which cuts the bundle) → verify → measure → choose → report.

Each stage is a function from the job's context (`context.JobContext`) and the previous
stage's result to its own result; `stages.run` is the order. Every command a stage runs
goes through `commands.Commands`, the one way to the executor (`runner.sandbox`).
"""
