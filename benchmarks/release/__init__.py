"""The release runs: training the shipped models and the objective ablation within budgets
(``python -m benchmarks.release``, ``plan``) and the ablation's report
(``python -m benchmarks.release.ablation``)."""
