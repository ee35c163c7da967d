"""``geodispatch bench reliability``: crash, fault and money figures against the real service.

Each part runs ``geodispatch serve`` in processes of its own, on a database made for the run,
does harm to it from outside (kill -9 of the service, a restart of PostgreSQL, killed
connections, a killed solver process, concurrent money movements) and then counts, from the
database itself, what was kept: the figures ``docs/reliability.md`` quotes.

- :mod:`.crash`: keyed ticket POSTs while the service is killed with SIGKILL and restarted;
- :mod:`.faults`: a private PostgreSQL cluster restarted, and its connections terminated,
  under a stream of requests;
- :mod:`.run_kill`: a dispatch run whose solver process (or whole service) dies mid-solve;
- :mod:`.money`: concurrent settle, re-settle, adjustments and withdrawals, then the ledger
  audited;
- :mod:`.cli`: the commands, which print the figures and write
  ``benchmarks/results/reliability.json``.
"""
