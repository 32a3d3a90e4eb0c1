"""The holder's journal: who read or changed what in their passport, hash-chained."""
