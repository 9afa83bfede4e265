from __future__ import annotations

from datetime import time

from pydantic import AliasChoices, BaseModel, Field

from notifications.enums import Provider
from shared.config import ServiceSettings


class ReminderPolicy(BaseModel):
    """When a programme's reminders go out, in the person's local time. ``None`` turns a
    kind off. Quiet hours run from ``quiet_start`` to ``quiet_end`` (across midnight)."""

    evening_before: time | None = time(18, 0)
    window_opens: bool = True
    nudge_hours_before_grace_end: float | None = Field(2.0, gt=0, le=72)
    quiet_start: time = time(21, 0)
    quiet_end: time = time(8, 0)


class NotificationsSettings(ServiceSettings):
    service_name: str = "notifications"
    port: int = Field(8003, validation_alias="WAYMARK_NOTIFICATIONS_PORT")
    database_url: str = Field(
        "sqlite+aiosqlite:///var/notifications.db", validation_alias="WAYMARK_NOTIFICATIONS_DATABASE_URL"
    )
    public_url: str | None = Field(
        None, validation_alias=AliasChoices("WAYMARK_NOTIFICATIONS_PUBLIC_URL", "WAYMARK_PUBLIC_URL")
    )
    # Where the checkin service answers Twilio (the "press 1 to check in now" hand-over)
    # and the number people text or call to check in, as it appears in reminders.
    checkin_public_url: str = Field(
        "http://127.0.0.1:8002", validation_alias="WAYMARK_CHECKIN_PUBLIC_URL")
    checkin_number: str = Field("+447700900000", validation_alias="WAYMARK_CHECKIN_NUMBER")

    provider: Provider = Field(Provider.log, validation_alias="WAYMARK_NOTIFY_PROVIDER")
    twilio_account_sid: str = Field(
        "AC00000000000000000000000000000000", validation_alias="TWILIO_ACCOUNT_SID")
    twilio_from_number: str = Field("+447700900000", validation_alias="TWILIO_FROM_NUMBER")
    # A Twilio-compatible server to send to instead of https://api.twilio.com.
    twilio_api_base: str | None = Field(None, validation_alias="TWILIO_API_BASE")

    # The default reminder policy, and per-programme ones (JSON in the environment:
    # WAYMARK_REMINDER_POLICIES='{"programme": {"evening_before": null}}').
    reminder_policy: ReminderPolicy = Field(
        default_factory=ReminderPolicy, validation_alias="WAYMARK_REMINDER_POLICY")
    reminder_policies: dict[str, ReminderPolicy] = Field(
        default_factory=dict, validation_alias="WAYMARK_REMINDER_POLICIES")

    # Feed polling and the dispatcher's tick; 0 turns the scheduler job off (tests drive
    # them directly).
    feed_poll_seconds: float = Field(2.0, validation_alias="WAYMARK_NOTIFICATIONS_FEED_POLL_SECONDS")
    dispatch_seconds: float = Field(1.0, validation_alias="WAYMARK_DISPATCH_SECONDS")
    # Outbound messages per second across every dispatcher; 0 means no limit.
    send_rate: float = Field(10.0, ge=0, validation_alias="WAYMARK_NOTIFY_RATE")
    dispatch_batch: int = Field(500, ge=1, le=5000)
    dispatch_concurrency: int = Field(64, ge=1, le=1000)
    # How long a claim holds a reminder before another dispatcher may reconcile it.
    lease_seconds: float = Field(60.0, gt=0)
    # Transient failures back off exponentially with full jitter, from the first delay
    # up to the cap, until the reminder's deadline.
    retry_first_seconds: float = Field(30.0, gt=0)
    retry_max_seconds: float = Field(900.0, gt=0)

    def policy_for(self, programme: str | None) -> ReminderPolicy:
        return self.reminder_policies.get(programme or "", self.reminder_policy)

    @property
    def status_callback_url(self) -> str:
        return f"{self.base_url}/v1/twilio/status"
