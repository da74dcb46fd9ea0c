"""A simulated LML (library-metadata-lookup) and a realistic WXYC catalog to run it against.

catalog = generate_catalog(2000, seed=1)
with start_simulator(catalog, SimulatorConfig(latency_ms=20)) as sim:
    httpx.post(f"{sim.url}/api/v1/lookup", json={...})
    sim.stats().asks(key_id)
"""

from artwork_backfill.demo.simulator.catalog import (
    TRANSIENT_SCENARIOS,
    Catalog,
    CatalogArtist,
    CatalogRow,
    DiscogsRelease,
    Expectation,
    KeyTruth,
    Scenario,
    generate_catalog,
)
from artwork_backfill.demo.simulator.render import LookupContext, render_lookup
from artwork_backfill.demo.simulator.server import RunningSimulator, start_simulator
from artwork_backfill.demo.simulator.state import FaultConfig, SimStats, SimulatorConfig

__all__ = [
    "TRANSIENT_SCENARIOS",
    "Catalog",
    "CatalogArtist",
    "CatalogRow",
    "DiscogsRelease",
    "Expectation",
    "FaultConfig",
    "KeyTruth",
    "LookupContext",
    "RunningSimulator",
    "Scenario",
    "SimStats",
    "SimulatorConfig",
    "generate_catalog",
    "render_lookup",
    "start_simulator",
]
