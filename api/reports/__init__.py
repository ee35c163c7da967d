"""Manager reports: lead funnel, SLA, cost, utilisation (JSON, CSV and the /reports page)."""
