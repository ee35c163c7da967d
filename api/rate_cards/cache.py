"""The parsed cards of stored rate-card versions, kept per process so each is parsed once."""

from collections import OrderedDict
from threading import Lock

from settlement import RateCard

#: A stored version, as cached: its row id and its content hash. A version may be replaced
#: while no order has used it, and a replacement changes the hash, so an entry never goes stale.
VersionKey = tuple[int, str]


class ParsedCards:
    """Parsed cards by version, the least recently used dropped beyond ``capacity``.

    Checking a ticket's difficulty flags, settling a ticket and listing versions all need the
    parsed cards in force; parsing a large card on every request would put its cost on the
    busiest route.
    """

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._cards: OrderedDict[VersionKey, RateCard] = OrderedDict()
        self._lock = Lock()  # requests run in a thread pool

    def get(self, key: VersionKey) -> RateCard | None:
        """Return the parsed card of a version, or None if it is not cached."""
        with self._lock:
            card = self._cards.get(key)
            if card is not None:
                self._cards.move_to_end(key)
            return card

    def put(self, key: VersionKey, card: RateCard) -> None:
        """Keep ``card`` as the parsed card of a version."""
        with self._lock:
            self._cards[key] = card
            self._cards.move_to_end(key)
            while len(self._cards) > self._capacity:
                self._cards.popitem(last=False)
