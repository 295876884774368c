"""A second, independent exact backend: a Pyomo MILP of the full problem, solved by HiGHS.

Why: CP-SAT is our production solver, but an exact solver can be wrong too (wrong
INFEASIBLE verdicts have been reported upstream). This model shares nothing with
:mod:`aps.solvers.cpsat` except the problem definition and the validator, so where both
prove optimality their objectives must agree (``tests/milp`` checks that).

Formulation (all times integer ticks in ``[0, H]``; ``H`` is the same serial horizon CP-SAT
uses, recomputed here, cut to a valid dispatching makespan when only makespan counts):

* per operation: run start ``s``, run end ``e``, busy-from ``b`` (``s - b`` is exactly the
  fixed setup plus the sequence-dependent changeover), one binary per mode (sum 1);
* precedences and lags: ``s_succ >= e_pred + min_lag`` and ``<= e_pred + max_lag``;
* machines without a setup matrix: big-M disjunction per pair of (operation, mode) on the
  machine, active only when both modes are chosen; zero-length modes (no duration, no
  setup) are left out, as the validator ignores them. Where the job's precedences imply
  ``s_q >= e_p`` (longest path of lags and shortest durations at least 0), the order is
  fixed without a binary (on setup-matrix machines: no arc ``q -> p``, plus the cut);
* machines with a setup matrix: an "immediate successor" path (arc binaries from a source,
  one in- and one out-arc per chosen mode); ``b_v >= e_u`` on each arc and the changeover
  is read off the arc into each operation (``initial`` off the source arc). Positive
  lengths make cycles impossible, so no subtour constraints are needed; zero-length modes
  on such machines are refused (their order, hence their changeover, is ambiguous);
* calendars: a non-interruptible operation (and any setup block) chooses the available
  period it lies in (one binary per period); an interruptible one chooses the period its
  run starts in and the one it ends in (one binary per feasible pair) and its end is
  ``s + duration + the windows it spans``; its setup lies in the start period;
* materials, exact event ordering: for each consuming operation ``c`` the stock at ``s_c``
  counts receipts with ``t <= s_c``, productions with ``e_p <= s_c`` (optional binaries the
  solver may switch on only when the order holds) and every draw with ``s_c' <= s_c``
  (binaries forced on unless ``s_c' >= s_c + 1``). Arrivals count before draws at a tick,
  as in the validator;
* pinned operations (``Operation.fixed``): constants on their machine (start, end and
  setup start as pinned), kept in the machine disjunctions / successor paths and in the
  stock, but free of release, deadline, calendar, duration and setup rules, and of
  precedences between two pinned operations (the validator's rules for facts); big-M
  constants cover pinned times beyond the horizon;
* objectives: the same terms, weighted or lexicographic (one solve per level, each level
  then bounded by its value, as the CP-SAT backend does). ``stability`` is
  ``|s - reference start|`` (two inequalities) plus the machine-change cost per
  non-chosen mode, counting pinned operations as :func:`aps.kpi.stability` does;
  ``setup_time`` is the sum of ``s - b``; tardiness allows due dates before tick 0;
  makespan gets machine-load cuts (valid, only to tighten the LP bound).

Refused (``ValueError`` naming the feature): zero-length operations (and zero-length
pinned blocks) on setup-matrix machines. Everything else in :class:`aps.model.Problem`
is modelled exactly; the result is validated by :mod:`aps.validate` like every backend's.

Status mapping (HiGHS model status): optimal -> OPTIMAL; infeasible and
unbounded-or-infeasible (every variable is bounded, so it is infeasible) -> INFEASIBLE;
time limit / interrupt / other limits -> FEASIBLE with an incumbent, else UNKNOWN;
load/model/presolve/solve errors -> MODEL_INVALID. The bound is HiGHS's MIP dual bound
rounded up (objectives are integral); ``mip_abs_gap`` is just under 1 so "optimal" means
proven to the tick. ``on_progress`` is fed from HiGHS's improving-solution callback (first
objective level only; the bound is HiGHS's dual bound from the main search, else 0) and
``stop`` from its interrupt callback. Pyomo's ``appsi_highs`` interface only translates
the model (and later changes) into a ``highspy.Highs`` object; we run that object
ourselves, because ``Highs.solve`` redirects the process's stdout/stderr file
descriptors around each run, which breaks concurrent solves in one process (the
service's in-process worker pool) and swallows other threads' output; with HiGHS's
output off there is nothing to capture. Pyomo's ``set_instance`` captures them too (the
HiGHS banner), so translations are serialised by a lock; they take milliseconds.
``workers`` becomes HiGHS ``threads`` (HiGHS's MIP search is essentially serial, so more
workers rarely help; HiGHS sizes one scheduler per process, rebuilt when the count
changes and no solve runs). The ``hint`` (if valid), else a valid dispatching schedule, is
used, when only makespan counts, to cut the horizon to its makespan. It is not given to
HiGHS as a MIP start: with a partial start HiGHS 1.16 reported the optimum's objective
while ``getSolution()`` still held the start (found by the cross-check). As a guard, a
solution vector whose schedule is worse than HiGHS's reported objective is never
returned as OPTIMAL.

Scale: the Pyomo model is built and translated in Python before HiGHS starts (about 15 s
for the 263-operation example plant, 80 000 binaries); that time counts against
``time_limit`` and, when it uses it all, the result is UNKNOWN with a message saying so.
HiGHS's presolve can overrun a short limit by a few seconds on such models. The MILP is
meant for small problems (see :mod:`aps.solvers.auto`).
"""
