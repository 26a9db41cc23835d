"""From basic_config and what each Airbyte holds to the plan document: planning, the promotion gate and what it
reads upstream, impact, approvals, and the plan as people read it (text, Markdown, the environment matrix)."""
