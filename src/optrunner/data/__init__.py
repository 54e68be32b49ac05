"""Option-chain data: the snapshot type, the Parquet catalog, importers and the synthetic generator."""

from optrunner.data.snapshot import ChainSnapshot, OptionQuote, contract_key, contract_keys

__all__ = ["ChainSnapshot", "OptionQuote", "contract_key", "contract_keys"]
