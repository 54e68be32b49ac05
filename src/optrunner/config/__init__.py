"""Strategy files: typed models, loaders that report every problem at once, JSON Schema.

Typical use::

    config = load_config_file("configs/NIFTY_DNSS.json")   # raises ConfigError listing all issues
    for path in iter_strategy_files("configs/"):            # skips templates and disabled files
        ...
"""

from optrunner.config.files import (
    FileReport,
    check_file,
    iter_strategy_files,
    load_config_file,
    read_document,
)
from optrunner.config.issues import ConfigError, ConfigIssue
from optrunner.config.market import MarketConfig
from optrunner.config.operations import (
    BacktestingConfig,
    DateRange,
    ExecutionConfig,
    MonitoringConfig,
    RiskManagementConfig,
)
from optrunner.config.schema import strategy_json_schema
from optrunner.config.sections import AdjustmentConfig, EntryConfig, ExitConfig
from optrunner.config.strategy import StrategyConfig
from optrunner.config.validation import validate_config

__all__ = [
    "AdjustmentConfig",
    "BacktestingConfig",
    "ConfigError",
    "ConfigIssue",
    "DateRange",
    "EntryConfig",
    "ExecutionConfig",
    "ExitConfig",
    "FileReport",
    "MarketConfig",
    "MonitoringConfig",
    "RiskManagementConfig",
    "StrategyConfig",
    "check_file",
    "iter_strategy_files",
    "load_config_file",
    "read_document",
    "strategy_json_schema",
    "validate_config",
]
