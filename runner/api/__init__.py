"""The authenticated HTTP surface: tokens and roles, the job API and the dashboard pages."""
