from checkin.config import CheckinSettings
from checkin.models import CheckinModel
from shared.migrations import run_env

run_env(CheckinModel.metadata, CheckinSettings().database_url)
