"""Webhooks: verify and parse GitLab and Jira deliveries into job requests, and serve them."""
