"""Every table, one module per domain; importing this package registers them all on ``Base``."""

from api.db.tables.auth import ApiKeyRow as ApiKeyRow
from api.db.tables.regions import RegionRow as RegionRow
