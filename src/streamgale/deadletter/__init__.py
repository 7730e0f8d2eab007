"""Dead letters: failed records kept with their step, error and payload."""

from streamgale.deadletter.store import (
    DEAD_LETTER_FILE,
    DeadLetter,
    DeadLetterStatus,
    DeadLetterStore,
    stored_counts,
)

__all__ = ["DEAD_LETTER_FILE", "DeadLetter", "DeadLetterStatus", "DeadLetterStore", "stored_counts"]
