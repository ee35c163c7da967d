"""The living demo day: seeded and played through the service's own API.

``city`` draws today's day from ``dispatch.demo``'s generator on the demo city's real places;
``seeder`` sends it to the service (technicians, leads, orders, dispatch runs, the morning's
work); ``simulator`` plays the rest of the day on an accelerated clock; ``summary`` reads the
figures back; ``service`` runs the service in a thread on a fresh SpatiaLite file; ``keys``
makes and keeps the demo's API keys; ``receiver`` receives and checks the demo's escalation
webhooks, which ``escalations`` subscribes and sends off. ``geodispatch demo run`` and ``demo
live`` use them.
"""

from .city import FAST as FAST
from .city import FULL as FULL
from .city import CityDay as CityDay
from .city import DaySize as DaySize
from .city import city_day as city_day
from .client import DemoApi as DemoApi
from .client import DemoStepFailed as DemoStepFailed
from .seeder import DemoDay as DemoDay
from .seeder import seed_day as seed_day
from .simulator import SimParams as SimParams
from .simulator import SimStats as SimStats
from .simulator import Simulator as Simulator
