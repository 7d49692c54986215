"""Territory and account alignment: the problem and its solvers (MILP, heuristic,
local search), and the account-level alignment built on them."""
