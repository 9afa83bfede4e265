from __future__ import annotations

from pydantic import AliasChoices, Field, model_validator

from checkin import cellkey
from shared.config import ServiceSettings

DEV_PIN_KEY = "dev-only-pin-key-change-me"


class CheckinSettings(ServiceSettings):
    service_name: str = "checkin"
    port: int = Field(8002, validation_alias="WAYMARK_CHECKIN_PORT")
    database_url: str = Field(
        "sqlite+aiosqlite:///var/checkin.db", validation_alias="WAYMARK_CHECKIN_DATABASE_URL"
    )
    public_url: str | None = Field(
        None, validation_alias=AliasChoices("WAYMARK_CHECKIN_PUBLIC_URL", "WAYMARK_PUBLIC_URL")
    )
    # How often the registry's change feed is polled; 0 turns the scheduler off (tests
    # drive the consumer themselves).
    feed_poll_seconds: float = Field(2.0, validation_alias="WAYMARK_CHECKIN_FEED_POLL_SECONDS")
    # The key PINs are hashed with (HMAC-SHA256); never stored in the database.
    pin_key: str = Field(DEV_PIN_KEY, validation_alias="WAYMARK_PIN_KEY")
    # The Twilio account whose webhooks are ours: any other AccountSid is refused (403).
    twilio_account_sid: str = Field(
        "AC00000000000000000000000000000000", validation_alias="TWILIO_ACCOUNT_SID")
    pin_max_failures: int = 5
    pin_failure_window_minutes: int = 15
    pin_lock_minutes: int = 15
    # How far ahead expected check-ins are materialised, and how often the scheduled
    # jobs (extend the horizon, decide missed check-ins) run; 0 turns them off.
    schedule_horizon_days: int = Field(56, ge=7, le=366)
    jobs_seconds: float = Field(60.0, validation_alias="WAYMARK_CHECKIN_JOBS_SECONDS")
    # How often the moves logged by outcome changes are folded into the attendance
    # rollups (``checkin.folding``); 0 leaves it to the summaries, which fold first.
    rollup_fold_seconds: float = Field(2.0, validation_alias="WAYMARK_ROLLUP_FOLD_SECONDS")
    # An authority's attendance summaries withhold any count that ends under this after
    # cell-key perturbation, with the perturbation table (``pcv,ckey,pvalue`` CSV) at
    # ``ptable``, the shipped one when unset (``checkin.cellkey``).
    suppression_threshold: int = Field(5, ge=1)
    # The rollups' bitmaps kept deserialised between summaries, per worker, in MiB
    # (``checkin.bitmap_cache``; PostgreSQL only); 0 turns it off.
    summary_cache_mib: int = Field(256, ge=0, validation_alias="WAYMARK_SUMMARY_CACHE_MIB")
    ptable: str | None = Field(None, validation_alias="WAYMARK_PTABLE")

    @model_validator(mode="after")
    def check_ptable(self) -> CheckinSettings:
        if self.ptable is not None:  # read at start-up: a bad file stops it, not a request
            cellkey.load(self.ptable)
        return self

    @model_validator(mode="after")
    def check_pin_key(self) -> CheckinSettings:
        if self.env == "production" and self.pin_key == DEV_PIN_KEY:
            raise ValueError("production needs a real WAYMARK_PIN_KEY")
        return self
