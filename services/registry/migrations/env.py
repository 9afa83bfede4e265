from registry.config import RegistrySettings
from registry.models import RegistryModel
from shared.migrations import run_env

run_env(RegistryModel.metadata, RegistrySettings().database_url)
