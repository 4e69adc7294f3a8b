"""The scheduler: a loop that calls tick functions (fire due schedules, expire runs,
and whatever else is plugged in) until stopped. Run by `headwater scheduler` and
embedded in `headwater serve`; several may run at once against one database.

An entry point: may import services, store and domain; nothing imports it but the CLI.
"""
