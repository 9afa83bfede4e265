"""The notifications service: reminder plans, message templates per language,
outbound SMS and voice through a provider, delivery status and opt-outs."""
