"""Upgrades on purpose: proposals within a policy, ``outdated`` (and the registries it reads), its document and
output, and ``bump``."""
