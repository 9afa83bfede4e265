from notifications.config import NotificationsSettings
from notifications.models import NotificationsModel
from shared.migrations import run_env

run_env(NotificationsModel.metadata, NotificationsSettings().database_url)
