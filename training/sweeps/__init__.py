"""HyperDrive's logic, pure: parameter expressions, sweep configs, samplers, policies, results.

The control API validates with `parse_sweep_config`; the agent asks `build_sampler(config)` for
the next child's values and `build_policy(config.policy)` which running children to cancel.
"""
from training.sweeps.bayesian import BayesianSampler
from training.sweeps.config import (PolicyConfig, PrimaryMetric, Sampling, SweepConfig,
                                    parse_goal, parse_policy_text, parse_sweep_config)
from training.sweeps.errors import SweepConfigError
from training.sweeps.expressions import (Expression, parse_expression, parse_param_text,
                                         parse_param_texts)
from training.sweeps.policies import (BanditPolicy, MedianStoppingPolicy, NoTerminationPolicy,
                                      Policy, TruncationSelectionPolicy, build_policy)
from training.sweeps.results import ChildRun, best_child, best_value, sort_children
from training.sweeps.samplers import (GridSampler, RandomSampler, Sampler, Trial,
                                      argument_name, child_arguments)


def build_sampler(config: SweepConfig) -> Sampler:
    """The sampler a validated sweep asks for each next child's hyperparameters."""
    sampling = config.sampling
    if sampling.type == "grid":
        return GridSampler(sampling.space)
    if sampling.type == "bayesian":
        return BayesianSampler(sampling.space, config.primary_metric.goal, sampling.seed)
    return RandomSampler(sampling.space, sampling.seed)


__all__ = [
    "BanditPolicy", "BayesianSampler", "ChildRun", "Expression", "GridSampler",
    "MedianStoppingPolicy", "NoTerminationPolicy", "Policy", "PolicyConfig", "PrimaryMetric",
    "RandomSampler", "Sampler", "Sampling", "SweepConfig", "SweepConfigError",
    "TruncationSelectionPolicy", "Trial", "argument_name", "best_child", "best_value",
    "build_policy", "build_sampler", "child_arguments", "parse_expression", "parse_goal",
    "parse_param_text", "parse_param_texts", "parse_policy_text", "parse_sweep_config",
    "sort_children",
]
