"""repairman's forecast: play the policy forward in time on a model cluster.

`forecast(snapshot, model, seed=...)` answers "when would each request be approved and
finished, and what holds them back?" by running `policy.plan` once per CronJob period
against a model of the cluster (forecast.cluster) and moving time on
(forecast.simulation). forecast.inputs holds what it is asked, forecast.summary and
forecast.chart what it answers. It reads no cluster and writes nothing: `runner
forecast` gives it a snapshot, recorded or read live.
"""

from forecast.inputs import Model, Spread
from forecast.simulation import Forecast, RequestTimeline, Simulation, forecast

__all__ = ["Forecast", "Model", "RequestTimeline", "Simulation", "Spread", "forecast"]
