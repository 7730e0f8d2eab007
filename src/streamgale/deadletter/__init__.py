"""Dead letters: failed records kept with their step, error and payload."""

from streamgale.deadletter.store import DeadLetter, DeadLetterStatus, DeadLetterStore

__all__ = ["DeadLetter", "DeadLetterStatus", "DeadLetterStore"]
