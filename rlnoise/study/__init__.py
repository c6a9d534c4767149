"""Env-count scaling studies: plan runs, execute them, fit B_crit, write the report.

Modules, in the order data flows through them (docs/design.md, "A study"):

- config    StudyConfig (what a study measures), ExecOptions (how it runs), lr rules, StudyError
- plan      which runs to train, in which order (pure function of the config and finished runs)
- executor  where runs execute (local process pool or Ray) and the job each one runs
- runner    one `rlnoise study` session: plan, execute, record, fit, write every output
- analysis  finished runs -> run records -> the front, the Pareto fit and B_simple per target
- records   typed records (run record, front point, target fit) and their JSON form
- store     study.json and runs.csv: load, save, format (torch-free)
- report    report.md and the terminal tables, from study.json alone (torch-free)
- plots     the figures, from study.json alone (torch-free)
- presets   the built-in studies
- cli       `rlnoise study` / `rlnoise report` flags and handlers

The rule: the study package may import the trainer (`rlnoise.train`), and only `rlnoise.cli`
imports the study package. `report`, `plots`, `store`, `records` and `analysis` never import
torch, so `rlnoise report DIR` runs without it. This file imports nothing on purpose.
"""
